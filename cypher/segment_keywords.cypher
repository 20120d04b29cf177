// purpose: Keywords of a segment: the terms its users' reviews are most often distinguished by
//          (each user's profile keywords, counted over the segment's users), with how many
//          users have each and how often they wrote it.
// analyst: yes
// mode: read
// params: segment INTEGER, top INTEGER = 10
// bounds: segment 0..1000, top 1..100
//   segment: the segment number (profile_segment); top: how many keywords
// returns: keyword, users, written
// example: profilegraph query segment_keywords --param segment=0 --param top=10
MATCH (u:User {profile_segment: $segment})
WHERE u.profile_keywords IS NOT NULL
UNWIND range(0, size(u.profile_keywords) - 1) AS i
WITH u.profile_keywords[i] AS keyword, coalesce(u.profile_keyword_counts[i], 0) AS written
RETURN keyword, count(*) AS users, sum(written) AS written
ORDER BY users DESC, written DESC, keyword
LIMIT $top
