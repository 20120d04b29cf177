// purpose: The data model, applied idempotently at start (`profilegraph schema apply`).
// mode: write
// params: none
// returns: nothing
//
// (:User {user_id})-[:FOLLOWS {ts}]->(:User)            social edges, directed; a friendship is two
// (:User)-[:<KIND> {ts, times, weight, count}]->(:Item)
//                                                        interactions, one relationship type per kind;
//                                                        times: the last 64 action times (arrival
//                                                        order), the order sequence models read;
//                                                        ts: the latest action time
// (:Item {item_id})-[:IN_CATEGORY]->(:Category {name})
// (:User)-[:PLACED]->(:Order {order_id, ts, amount})-[:CONTAINS {line_id, quantity, amount}]->(:Item)
//                                                        purchase occasions, for value models: every
//                                                        timed purchase is a line (its event id) of
//                                                        its order_id, or an order of its own
// (:User) profile_* properties, written by one ProfileRun at a time
// (:ProfileRun {run_id, kind, started_at, finished_at, status, model, params, metrics})
// (:Watermark {name, seq})                               the open change epoch; users/items carry
//                                                        changed_seq, the epoch that last touched them
// (:SourcePosition {key, source, partition, offset})     where each source partition (Kafka, a file)
//                                                        is applied up to; committed with the data
// (:AppliedBatch {key, source, at})                      Redis stream batches applied (window-bound)
// (:IngestedEvent {key, seq, at})                        ledger that makes replays of API and data-set
//                                                        submissions no-ops (key: the SHA-256 of the
//                                                        event id, never the id; window-bound)
// (:RejectedEvent {key, source, reason, field, value, raw, times, at})   dead letters
// Interaction kinds are relationship types (VIEWED CLICKED CARTED FAVOURITED PURCHASED RATED REVIEWED LISTENED
// TAGGED), not a `kind` property: Neo4j keeps relationships in per-type chains, so reading one
// kind (export, a GDS projection) touches only that kind, and each type is its own allow-list entry.
// Times are epoch milliseconds (INTEGER): compact, and fast to export into tensors.

CREATE CONSTRAINT user_id IF NOT EXISTS FOR (u:User) REQUIRE u.user_id IS UNIQUE;
CREATE CONSTRAINT item_id IF NOT EXISTS FOR (i:Item) REQUIRE i.item_id IS UNIQUE;
CREATE CONSTRAINT category_name IF NOT EXISTS FOR (c:Category) REQUIRE c.name IS UNIQUE;
CREATE CONSTRAINT order_id IF NOT EXISTS FOR (o:Order) REQUIRE o.order_id IS UNIQUE;
CREATE CONSTRAINT profile_run_id IF NOT EXISTS FOR (r:ProfileRun) REQUIRE r.run_id IS UNIQUE;
// Profile embeddings: HNSW without quantisation, ef_construction 40. `python -m bench.vector_index`
// (20k clustered 64-d vectors, 2-core machine): the defaults (quantised, ef 100) insert ~4.5k
// vectors/s with lookalike recall@10 0.88; these settings ~8-10k/s with recall@10 0.97 (ef 24:
// faster, recall 0.93; ef 64: slower, 0.98). Quantising 64 floats saves little and costs recall.
// A changed config rebuilds the index at schema apply.
CREATE VECTOR INDEX user_profile_embedding IF NOT EXISTS
FOR (u:User) ON u.profile_embedding
OPTIONS {indexConfig: {`vector.dimensions`: 64, `vector.similarity_function`: 'cosine',
                       `vector.quantization.enabled`: false, `vector.hnsw.ef_construction`: 40}};
CREATE CONSTRAINT watermark_name IF NOT EXISTS FOR (w:Watermark) REQUIRE w.name IS UNIQUE;
CREATE CONSTRAINT ingested_event_key IF NOT EXISTS FOR (e:IngestedEvent) REQUIRE e.key IS UNIQUE;
CREATE CONSTRAINT source_position_key IF NOT EXISTS FOR (p:SourcePosition) REQUIRE p.key IS UNIQUE;
CREATE CONSTRAINT applied_batch_key IF NOT EXISTS FOR (b:AppliedBatch) REQUIRE b.key IS UNIQUE;
CREATE INDEX ingested_event_at IF NOT EXISTS FOR (e:IngestedEvent) ON (e.at);
CREATE INDEX applied_batch_at IF NOT EXISTS FOR (b:AppliedBatch) ON (b.at);
CREATE CONSTRAINT rejected_event_key IF NOT EXISTS FOR (r:RejectedEvent) REQUIRE r.key IS UNIQUE;
CREATE INDEX rejected_event_at IF NOT EXISTS FOR (r:RejectedEvent) ON (r.at);
CREATE INDEX user_changed_seq IF NOT EXISTS FOR (u:User) ON (u.changed_seq);
CREATE INDEX item_changed_seq IF NOT EXISTS FOR (i:Item) ON (i.changed_seq);
CREATE INDEX ingested_event_seq IF NOT EXISTS FOR (e:IngestedEvent) ON (e.seq);
CREATE INDEX profile_run_started IF NOT EXISTS FOR (r:ProfileRun) ON (r.started_at);
CREATE INDEX user_influence_rank IF NOT EXISTS FOR (u:User) ON (u.profile_influence_rank);
CREATE INDEX user_profile_run IF NOT EXISTS FOR (u:User) ON (u.profile_run_id);
CREATE INDEX user_profile_segment IF NOT EXISTS FOR (u:User) ON (u.profile_segment);
CREATE INDEX user_profile_rfm_segment IF NOT EXISTS FOR (u:User) ON (u.profile_rfm_segment);
CREATE INDEX user_profile_clv IF NOT EXISTS FOR (u:User) ON (u.profile_clv);
CREATE INDEX user_profile_online_at IF NOT EXISTS FOR (u:User) ON (u.profile_online_at);
