// purpose: Create the users and items a batch of interactions names that do not exist yet,
//          before profilegraph.applyInteractions (which only finds them): MERGE under the
//          uniqueness constraints is what makes two writers creating one node safe.
// mode: write
// params: users LIST<STRING> (distinct, sorted), items LIST<STRING> (distinct, sorted)
// returns: nothing
CALL () {
  UNWIND $users AS id
  MERGE (:User {user_id: id})
}
CALL () {
  UNWIND $items AS id
  MERGE (:Item {item_id: id})
}
