// purpose: Upsert users.
// mode: write
// params: rows LIST<MAP{user_id STRING, name STRING?}>, seq INTEGER
// returns: nothing
UNWIND $rows AS row
MERGE (u:User {user_id: row.user_id})
SET u.name = coalesce(row.name, u.name), u.changed_seq = $seq
