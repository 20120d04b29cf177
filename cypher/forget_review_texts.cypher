// purpose: Remove the review texts of users who withdrew their consent to profiling
//          (profiling_consent false, in this batch): their words are not kept for profiling.
//          Their reviews' ratings stay (interactions, not text).
// mode: write
// params: users LIST<STRING> (1..10000 user ids)
// returns: nothing
UNWIND $users AS id
MATCH (:User {user_id: id, profiling_consent: false})-[r:REVIEWED]->()
WHERE r.text IS NOT NULL
REMOVE r.text, r.language, r.text_ts
