// purpose: Users of one export chunk. Like every export query it aggregates the chunk into ONE
//          record of parallel lists: the driver decodes big lists fast and small records slowly.
//          Internal ids are only meaningful inside the export that reads them.
// mode: read
// params: ids LIST<INTEGER> (user internal ids)
// returns: nids LIST<INTEGER>, user_ids LIST<STRING>, changed LIST<INTEGER>
UNWIND $ids AS nid
MATCH (u:User) WHERE id(u) = nid
RETURN collect(nid) AS nids, collect(u.user_id) AS user_ids,
       collect(coalesce(u.changed_seq, 0)) AS changed
