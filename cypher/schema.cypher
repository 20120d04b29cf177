// purpose: The data model, applied idempotently at start (`profilegraph schema apply`).
// mode: write
// params: none
// returns: nothing
//
// (:User {user_id})-[:FOLLOWS {ts}]->(:User)            social edges, directed; a friendship is two
// (:User)-[:<KIND> {ts, weight, count}]->(:Item)         interactions, one relationship type per kind
// (:Item {item_id})-[:IN_CATEGORY]->(:Category {name})
// (:User) profile_* properties, written by one ProfileRun at a time
// (:ProfileRun {run_id, kind, started_at, finished_at, status, model, params, metrics})

CREATE CONSTRAINT user_id IF NOT EXISTS FOR (u:User) REQUIRE u.user_id IS UNIQUE;
CREATE CONSTRAINT item_id IF NOT EXISTS FOR (i:Item) REQUIRE i.item_id IS UNIQUE;
CREATE CONSTRAINT category_name IF NOT EXISTS FOR (c:Category) REQUIRE c.name IS UNIQUE;
CREATE CONSTRAINT profile_run_id IF NOT EXISTS FOR (r:ProfileRun) REQUIRE r.run_id IS UNIQUE;
CREATE VECTOR INDEX user_profile_embedding IF NOT EXISTS
FOR (u:User) ON u.profile_embedding
OPTIONS {indexConfig: {`vector.dimensions`: 64, `vector.similarity_function`: 'cosine'}};
