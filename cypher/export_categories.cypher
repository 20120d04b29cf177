// purpose: Every category's internal id and name (categories are few; read them whole).
// mode: read
// params: none
// returns: ids LIST<INTEGER>, names LIST<STRING>
MATCH (k:Category)
RETURN collect(id(k)) AS ids, collect(k.name) AS names
