// purpose: The most influential users among those with a category in their top interests, with
//          the evidence: follower adoptions of that category's items they triggered.
// analyst: yes
// mode: read
// params: category STRING, top INTEGER
// bounds: top 1..10000
//   category: a category name exactly as stored; top: how many users
// returns: influence_rank (overall), user_id, influence, adoptions_in_category, adoptions (all
//          categories), interest_weight (the category's weight in the user's profile)
// example: profilegraph query top_influencers_in_category --param category=rock --param top=10
MATCH (:Category {name: $category})<-[r:INTERESTED_IN]-(u:User)
RETURN u.profile_influence_rank AS influence_rank, u.user_id AS user_id,
       u.profile_influence AS influence, r.adoptions AS adoptions_in_category,
       u.profile_adoptions AS adoptions, r.weight AS interest_weight
ORDER BY influence_rank, user_id
LIMIT $top
