// purpose: Segment summary: size, top interests, mean influence and cold-start share per segment.
// analyst: yes
// mode: read
// params: top INTEGER = 3
// bounds: top 1..100
//   top: how many interests to list per segment (ranked by summed interest weight)
// returns: segment, label, users, mean_influence, cold_share, top_interests
// dp: count users; mean cold_share 0..1; keep segment, label, top_interests
// example: profilegraph query segment_summary --param top=3
MATCH (u:User)
WHERE u.profile_segment IS NOT NULL
WITH u.profile_segment AS segment, count(*) AS users, avg(u.profile_influence) AS mean_influence,
     avg(CASE WHEN u.profile_cold_start THEN 1.0 ELSE 0.0 END) AS cold_share,
     min(u.profile_segment_label) AS label
CALL (segment) {
  MATCH (m:User {profile_segment: segment})-[r:INTERESTED_IN]->(c:Category)
  WITH c.name AS name, sum(r.weight) AS mass
  ORDER BY mass DESC, name LIMIT $top
  RETURN collect(name) AS top_interests
}
RETURN segment, label, users, mean_influence, cold_share, top_interests
ORDER BY segment
