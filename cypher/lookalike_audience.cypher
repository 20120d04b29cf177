// purpose: Look-alike audience: the k users whose profile embedding is nearest (cosine, through
//          the vector index) to the mean embedding of one or more seed users.
// analyst: yes
// mode: read
// params: user_ids LIST<STRING>, k INTEGER = 10
// bounds: k 1..1000
//   user_ids: comma-separated seed users (unknown or unprofiled ones are ignored); k: how many
// returns: user_id, score (cosine similarity, 1 = same direction), segment_label, interests
// example: profilegraph query lookalike_audience --param user_ids=2,7 --param k=10
MATCH (seed:User)
WHERE seed.user_id IN $user_ids AND seed.profile_embedding IS NOT NULL
WITH collect(seed) AS seeds, collect(seed.profile_embedding) AS vectors
WHERE size(vectors) > 0
WITH seeds, [i IN range(0, size(vectors[0]) - 1) |
             reduce(total = 0.0, v IN vectors | total + v[i]) / size(vectors)] AS centre
CALL db.index.vector.queryNodes('user_profile_embedding', $k + size(seeds), centre)
YIELD node, score
WITH node, score WHERE NOT node IN seeds
RETURN node.user_id AS user_id, score, node.profile_segment_label AS segment_label,
       node.profile_interests AS interests
ORDER BY score DESC, user_id
LIMIT $k
