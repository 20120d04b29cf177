// purpose: Influence within a category: users ranked by the follower adoptions of that
//          category's items they triggered (not the global ranking filtered by interest), then
//          by their overall predicted influence. Users with the category in their top interests.
// analyst: yes
// mode: read
// params: category STRING, top INTEGER = 10
// bounds: top 1..10000
//   category: a category name, any case; top: how many users
// returns: rank_in_category, influence_rank (overall), user_id, adoptions_in_category,
//          influence, adoptions (all categories), interest_weight (the category's weight in the
//          user's profile)
// example: profilegraph query top_influencers_in_category --param category=rock --param top=10
MATCH (:Category {name: toLower($category)})<-[r:INTERESTED_IN]-(u:User)
WITH u, r
ORDER BY coalesce(r.adoptions, 0) DESC, u.profile_influence DESC, u.user_id
LIMIT $top
WITH collect({u: u, r: r}) AS ranked
UNWIND range(0, size(ranked) - 1) AS i
WITH i + 1 AS rank_in_category, ranked[i].u AS u, ranked[i].r AS r
RETURN rank_in_category, u.profile_influence_rank AS influence_rank, u.user_id AS user_id,
       r.adoptions AS adoptions_in_category, u.profile_influence AS influence,
       u.profile_adoptions AS adoptions, r.weight AS interest_weight
ORDER BY rank_in_category
