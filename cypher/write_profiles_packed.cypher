// purpose: Write one batch of complete profiles through the server-side procedure
//          (graph/plugin/WriteProfiles.java): the effect of write_profiles.cypher, from packed
//          columns (graph.writeback.ProfileColumns.packed). Servers without the plugin use that file.
// mode: write
// params: batch MAP{users LIST<STRING>, watermark INTEGER, props MAP{name: LIST}, embeddings
//         LIST<FLOAT> (users x dim), dim INTEGER, trails LIST<STRING>, field_trails
//         LIST<MAP{property, entries LIST<STRING>}>, trail_key STRING, interests MAP{user LIST<INTEGER>, name, rank,
//         weight, items, friends, adoptions}, recommendations MAP{user, item_id, rank, score,
//         kind, reason, category}, next_categories MAP{user, name, rank, probability},
//         parts LIST<STRING>, field_edges LIST<MAP{part, type, label, key, properties,
//         online}> (core/profile_contract.FIELD_EDGES)},
//         run_id STRING, trail_runs INTEGER, consent_default BOOLEAN
// returns: written INTEGER
CALL profilegraph.writeProfiles($batch, $run_id, $trail_runs, $consent_default)
YIELD written
RETURN written
