// purpose: Churn audience within a category: users interested in the category whose churn
//          probability is at or above min_churn, likeliest to leave first.
// analyst: yes
// mode: read
// params: category STRING, min_churn FLOAT = 0.5, top INTEGER = 20
// bounds: min_churn 0..1, top 1..10000
//   category: a category name, any case; min_churn: 0..1; top: how many users
// returns: user_id, churn_probability, interest_weight, clv, churn_explanation
// example: profilegraph query churn_audience --param category=rock --param min_churn=0.5
MATCH (:Category {name: toLower($category)})<-[r:INTERESTED_IN]-(u:User)
WHERE u.profile_churn_probability >= $min_churn
RETURN u.user_id AS user_id, u.profile_churn_probability AS churn_probability,
       r.weight AS interest_weight, u.profile_clv AS clv,
       u.profile_churn_explanation AS churn_explanation
ORDER BY churn_probability DESC, user_id
LIMIT $top
