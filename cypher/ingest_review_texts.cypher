// purpose: Keep a review's words on its REVIEWED edge (the latest review of the item by the
//          user): text, language and when it was written (text_ts, epoch ms; the ingest time
//          when the event has none), after the batch's interactions made the edge. Text is
//          personal data: it never leaves Neo4j in a snapshot, goes with the user on erasure,
//          with consent on its withdrawal (forget_review_texts) and after
//          privacy.review_text_days (expire_review_texts).
// mode: write
// params: rows LIST<MAP{user_id STRING, item_id STRING, text STRING (1..5000 characters),
//         language STRING ('en' | 'zh'), ts INTEGER (epoch ms)}> (1..10000 rows)
// returns: nothing
UNWIND $rows AS row
MATCH (:User {user_id: row.user_id})-[r:REVIEWED]->(:Item {item_id: row.item_id})
WHERE r.text_ts IS NULL OR row.ts >= r.text_ts
SET r.text = row.text, r.language = row.language, r.text_ts = row.ts
