package profilegraph;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.neo4j.graphdb.Direction;
import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Relationship;
import org.neo4j.graphdb.RelationshipType;
import org.neo4j.graphdb.Transaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;

/**
 * The online ingest's interactions (graph/ingest.py), one relationship type per call, as
 * parallel columns: the same effect as cypher/ingest_interactions.cypher, row by row, without
 * Cypher's per-row interpretation (the ingest's largest cost after the commit).
 *
 * The users and items must exist (cypher/ensure_interaction_nodes.cypher runs first: MERGE
 * under the uniqueness constraints is what makes concurrent creation safe). Each user is
 * write-locked before its relationships are looked up, so two writers never both create the
 * same (user, item) relationship. Rows are applied in the order given.
 */
public class ApplyInteractions {
    private static final Label USER = Label.label("User");
    private static final Label ITEM = Label.label("Item");
    private static final int TIMES_KEPT = 64;

    @Context
    public Transaction tx;

    public static class Applied {
        public long applied;

        public Applied(long applied) {
            this.applied = applied;
        }
    }

    @Procedure(name = "profilegraph.applyInteractions", mode = Mode.WRITE)
    @Description("profilegraph.applyInteractions(type, users, items, ts, weights, counts, "
            + "replace, seq) - accumulate user-item interactions of one type (see "
            + "cypher/ingest_interactions.cypher)")
    public Stream<Applied> applyInteractions(
            @Name("type") String type,
            @Name("users") List<String> users,
            @Name("items") List<String> items,
            @Name("ts") List<Long> ts,
            @Name("weights") List<Double> weights,
            @Name("counts") List<Long> counts,
            @Name("replace") boolean replace,
            @Name("seq") long seq) {
        int n = users.size();
        if (items.size() != n || ts.size() != n || weights.size() != n || counts.size() != n) {
            throw new IllegalArgumentException("applyInteractions: the columns differ in length");
        }
        RelationshipType relType = RelationshipType.withName(type);
        Map<String, Node> userNodes = new HashMap<>();
        Map<String, Node> itemNodes = new HashMap<>();
        for (int k = 0; k < n; k++) {
            Node user = userNodes.computeIfAbsent(users.get(k), id -> find(USER, "user_id", id));
            Node item = itemNodes.computeIfAbsent(items.get(k), id -> find(ITEM, "item_id", id));
            Relationship r = relationship(user, item, relType);
            Long time = ts.get(k);
            long count = counts.get(k);
            double weight = weights.get(k);
            if (r == null) { // a new pair: each property set once
                r = user.createRelationshipTo(item, relType);
                r.setProperty("count", count);
                r.setProperty("weight", weight);
                if (time != null) {
                    r.setProperty("ts", time);
                    r.setProperty("first_ts", time);
                    r.setProperty("times", new long[] {time});
                }
            } else {
                r.setProperty("count", ((Number) r.getProperty("count", 0L)).longValue() + count);
                r.setProperty("weight", replace
                        ? weight : ((Number) r.getProperty("weight", 0.0)).doubleValue() + weight);
                if (time != null) {
                    Object last = r.getProperty("ts", null);
                    if (last == null || time > ((Number) last).longValue()) {
                        r.setProperty("ts", time);
                    }
                    Object first = r.getProperty("first_ts", null);
                    if (first == null || time < ((Number) first).longValue()) {
                        r.setProperty("first_ts", time);
                    }
                    long[] times = (long[]) r.getProperty("times", new long[0]);
                    long[] grown = Arrays.copyOfRange(
                            times, Math.max(0, times.length + 1 - TIMES_KEPT), times.length + 1);
                    grown[grown.length - 1] = time;
                    r.setProperty("times", grown);
                }
            }
            Object stamped = user.getProperty("changed_seq", null);
            if (stamped == null || ((Number) stamped).longValue() != seq) {
                user.setProperty("changed_seq", seq);
            }
        }
        return Stream.of(new Applied(n));
    }

    private Node find(Label label, String key, String id) {
        Node node = tx.findNode(label, key, id);
        if (node == null) {
            throw new IllegalStateException(label.name() + " " + key + "=" + id
                    + " does not exist: ensure_interaction_nodes must run first");
        }
        return node;
    }

    /** The (user)-[type]->(item) relationship, looked up among the user's (a user has fewer
     * relationships of one type than a popular item has). */
    @SuppressWarnings("deprecation") // internal ids compare the other end cheaply
    private Relationship relationship(Node user, Node item, RelationshipType type) {
        tx.acquireWriteLock(user);
        long other = item.getId();
        for (Relationship r : user.getRelationships(Direction.OUTGOING, type)) {
            if (r.getEndNodeId() == other) {
                return r;
            }
        }
        return null;
    }
}
