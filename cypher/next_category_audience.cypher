// purpose: Next-category audience: the users most likely to act in a category next (the
//          sequence model's prediction), with their likely next action.
// analyst: yes
// mode: read
// params: category STRING, min_probability FLOAT = 0.0, top INTEGER = 20
// bounds: min_probability 0..1, top 1..10000
//   category: a category name, any case; min_probability: of the next action falling in it;
//   top: how many users
// returns: user_id, probability, rank (of the category in the user's prediction), next_action,
//          purchase_probability
// example: profilegraph query next_category_audience --param category=rock --param top=20
MATCH (:Category {name: toLower($category)})<-[n:NEXT_CATEGORY]-(u:User)
WHERE n.probability >= $min_probability
RETURN u.user_id AS user_id, n.probability AS probability, n.rank AS rank,
       u.profile_next_action AS next_action, u.profile_purchase_probability AS purchase_probability
ORDER BY probability DESC, user_id
LIMIT $top
