// purpose: Unhappy customers in a category: the users whose reviews of the category read most
//          negative (their mean sentiment there below `below`; the category is one of their
//          most reviewed), with the evidence: their review figures and the start of their
//          latest review there (at most 80 characters and two thirds of the review: never a
//          whole review; gone when the text is, by retention, erasure or withdrawn consent).
// analyst: yes
// mode: read
// params: category STRING, below FLOAT = 0.4, top INTEGER = 20
// bounds: below 0..1, top 1..1000
//   category: a category name, any case; below: the sentiment under which a customer counts as unhappy;
//   top: how many users (most negative first)
// returns: user_id, category_sentiment, sentiment, reviews, negative_reviews,
//          last_negative_review (epoch ms), latest_review (an excerpt), sentiment_explanation
// example: profilegraph query unhappy_customers --param category=shoes --param below=0.4
MATCH (:Category {name: toLower($category)})<-[:IN_CATEGORY]-(:Item)<-[:REVIEWED]-(u:User)
WITH DISTINCT u
WHERE toLower($category) IN coalesce(u.profile_sentiment_categories, [])
WITH u, [i IN range(0, size(u.profile_sentiment_categories) - 1)
         WHERE u.profile_sentiment_categories[i] = toLower($category)
         | coalesce(u.profile_category_sentiment, [])[i]][0] AS here
WHERE here < $below
CALL (u) {
  MATCH (u)-[r:REVIEWED]->(:Item)-[:IN_CATEGORY]->(:Category {name: toLower($category)})
  WHERE r.text IS NOT NULL
  RETURN left(r.text, CASE WHEN size(r.text) * 2 / 3 < 80
                          THEN size(r.text) * 2 / 3 ELSE 80 END) + '...' AS latest_review
  ORDER BY r.text_ts DESC
  LIMIT 1
}
RETURN u.user_id AS user_id, round(here, 3) AS category_sentiment,
       round(u.profile_sentiment, 3) AS sentiment, u.profile_sentiment_reviews AS reviews,
       u.profile_negative_reviews AS negative_reviews,
       u.profile_last_negative_review AS last_negative_review, latest_review,
       u.profile_sentiment_explanation AS sentiment_explanation
ORDER BY category_sentiment, user_id
LIMIT $top
