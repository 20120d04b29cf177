// purpose: Internal ids of every user (first pass of a whole-graph or time-window export).
// mode: read
// params: none
// returns: ids LIST<INTEGER>
MATCH (u:User)
RETURN collect(id(u)) AS ids
