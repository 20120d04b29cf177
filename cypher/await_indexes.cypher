// purpose: Wait until every index is online (after a bulk import creates them over existing data).
// mode: write
// params: none
// returns: nothing
CALL db.awaitIndexes(600)
