// purpose: How many users the graph holds (answered from the count store).
// mode: read
// params: none
// returns: users INTEGER
MATCH (u:User) RETURN count(u) AS users
