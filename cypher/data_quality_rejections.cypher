// purpose: Data quality: rejected input by source, field and reason over a time range.
// analyst: yes
// mode: read
// params: from INTEGER = 0, to INTEGER = 4102444800000
// bounds: from 0..4102444800000, to 0..4102444800000
//   from/to: epoch milliseconds, from inclusive, to exclusive (when the rejection was last seen)
// returns: source, field, reason, inputs (distinct rejected inputs), times (how often seen),
//          last_seen (epoch ms)
// example: profilegraph query data_quality_rejections --param from=0 --param to=4102444800000
MATCH (r:RejectedEvent)
WHERE r.at >= $from AND r.at < $to
RETURN r.source AS source, r.field AS field, r.reason AS reason, count(*) AS inputs,
       sum(r.times) AS times, max(r.at) AS last_seen
ORDER BY times DESC, source, field, reason
