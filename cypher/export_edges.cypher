// purpose: Outgoing relationships of one chunk of users, of the given types, as packed
//          little-endian columns from the profilegraph.exportEdges procedure
//          (graph/plugin/ExportEdges.java): graph/export.py's fast path when the server has it.
//          Rows are grouped by type in the order of $types; decoding one byte array per column
//          costs the client nothing per edge.
// mode: read
// params: ids LIST<INTEGER> (user internal ids), types LIST<STRING> (relationship types),
//         properties BOOLEAN (false: weight 1, ts -1, count 1), start INTEGER? and end
//         INTEGER? (epoch ms window on ts; null = no window)
// returns: src, dst, ts (latest), first_ts (earliest), count (int64), weight (float32), offsets (int64, size(types) + 1:
//          the rows of type k are offsets[k] to offsets[k + 1]): BYTES
CALL profilegraph.exportEdges($ids, $types, $properties, $start, $end)
YIELD src, dst, weight, ts, first_ts, count, offsets
RETURN src, dst, weight, ts, first_ts, count, offsets
