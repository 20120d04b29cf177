// purpose: Users changed after a watermark: touched directly, or interacting with a changed item.
// mode: read
// params: since INTEGER (ingest seq)
// returns: ids LIST<INTEGER>
CALL () {
  MATCH (u:User) WHERE u.changed_seq > $since
  RETURN id(u) AS id
  UNION
  MATCH (i:Item) WHERE i.changed_seq > $since
  MATCH (u:User)-->(i)
  RETURN id(u) AS id
}
RETURN collect(DISTINCT id) AS ids
