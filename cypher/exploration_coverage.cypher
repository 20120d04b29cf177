// purpose: Exploration coverage by category: how many exploration slots of the latest lists show
//          each category, to how many users, and its share of all exploration slots, beside
//          the category's exploitation slots.
// analyst: yes
// mode: read
// params: top INTEGER = 20
// bounds: top 1..10000
//   top: how many categories, most explored first
// returns: category, explore_slots, users, explore_share, exploit_slots
// example: profilegraph query exploration_coverage --param top=20
MATCH (u:User)-[r:RECOMMENDED]->()
WHERE u.profile_run_id IS NOT NULL
WITH r.category AS category, r.kind AS kind, count(*) AS slots, count(DISTINCT u) AS users
WITH category,
     sum(CASE kind WHEN 'explore' THEN slots ELSE 0 END) AS explore_slots,
     sum(CASE kind WHEN 'explore' THEN users ELSE 0 END) AS users,
     sum(CASE kind WHEN 'exploit' THEN slots ELSE 0 END) AS exploit_slots
WHERE category IS NOT NULL
WITH collect({category: category, explore_slots: explore_slots, users: users,
              exploit_slots: exploit_slots}) AS rows, sum(explore_slots) AS total
UNWIND rows AS row
RETURN row.category AS category, row.explore_slots AS explore_slots, row.users AS users,
       CASE WHEN total = 0 THEN 0.0 ELSE toFloat(row.explore_slots) / total END AS explore_share,
       row.exploit_slots AS exploit_slots
ORDER BY explore_slots DESC, exploit_slots DESC, category
LIMIT $top
