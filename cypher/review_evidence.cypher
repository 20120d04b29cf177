// purpose: The evidence behind a profile's review figures: the start of the user's latest
//          negative review (the one profile_last_negative_review names; at most 80 characters
//          and two thirds of the review: never a whole review), read from the review itself, so
//          it is gone when the text is (retention, erasure, withdrawn consent) and no file ever
//          holds it.
// mode: read
// params: user_id STRING
// returns: item_id STRING, excerpt STRING (no row: no negative review with text)
MATCH (u:User {user_id: $user_id})
WHERE u.profile_last_negative_review IS NOT NULL
MATCH (u)-[r:REVIEWED]->(i:Item)
WHERE r.text_ts = u.profile_last_negative_review AND r.text IS NOT NULL
RETURN i.item_id AS item_id,
       left(r.text, CASE WHEN size(r.text) * 2 / 3 < 80
                          THEN size(r.text) * 2 / 3 ELSE 80 END) + '...' AS excerpt
ORDER BY item_id
LIMIT 1
