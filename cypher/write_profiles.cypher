// purpose: Write one batch of complete profiles. Every profile_* field is set in the same SET
//          (absent fields as null, which removes them), so a user is always on one run's
//          complete profile. A user whose stored profile reflects a newer watermark is skipped:
//          a late or redelivered writer of an older run never rolls profiles back.
// mode: write
// params: rows LIST<MAP{user_id STRING, watermark INTEGER, props MAP, embedding LIST<FLOAT>}>
// returns: written INTEGER
UNWIND $rows AS row
MATCH (u:User {user_id: row.user_id})
WHERE coalesce(u.profile_watermark, -1) <= row.watermark
SET u += row.props
WITH u, row
CALL db.create.setNodeVectorProperty(u, 'profile_embedding', row.embedding)
RETURN count(*) AS written
