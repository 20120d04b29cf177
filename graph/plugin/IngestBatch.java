package profilegraph;

import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
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
 * The online ingest's writes (graph/ingest.py) as parallel columns: interactions, order lines
 * and follows, each with the effect of its Cypher twin (cypher/ingest_interactions.cypher,
 * ingest_orders.cypher, ingest_follows.cypher) row by row, without Cypher's per-row
 * interpretation (the ingest's largest cost after the commit).
 *
 * The nodes must exist (cypher/ensure_ingest_nodes.cypher runs first: MERGE under the
 * uniqueness constraints is what makes concurrent creation safe). The node a relationship is
 * looked up from is write-locked first, so two writers never both create the same
 * relationship. Rows are applied in the order given.
 */
public class IngestBatch {
    private static final Label USER = Label.label("User");
    private static final Label ITEM = Label.label("Item");
    private static final Label ORDER = Label.label("Order");
    private static final RelationshipType FOLLOWS = RelationshipType.withName("FOLLOWS");
    private static final RelationshipType PLACED = RelationshipType.withName("PLACED");
    private static final RelationshipType CONTAINS = RelationshipType.withName("CONTAINS");
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
    @Description("profilegraph.applyInteractions(types, users, items, ts, weights, counts, "
            + "replace, seq) - accumulate user-item interactions (see "
            + "cypher/ingest_interactions.cypher)")
    public Stream<Applied> applyInteractions(
            @Name("types") List<String> types,
            @Name("users") List<String> users,
            @Name("items") List<String> items,
            @Name("ts") List<Long> ts,
            @Name("weights") List<Double> weights,
            @Name("counts") List<Long> counts,
            @Name("replace") List<Boolean> replace,
            @Name("seq") long seq) {
        int n = sameLength("applyInteractions", types, users, items, ts, weights, counts, replace);
        Nodes nodes = new Nodes();
        for (int k = 0; k < n; k++) {
            Node user = nodes.get(USER, "user_id", users.get(k));
            Node item = nodes.get(ITEM, "item_id", items.get(k));
            RelationshipType type = RelationshipType.withName(types.get(k));
            Relationship r = outgoing(user, type, item);
            Long time = ts.get(k);
            long count = counts.get(k);
            double weight = weights.get(k);
            if (r == null) { // a new pair: each property set once
                r = user.createRelationshipTo(item, type);
                r.setProperty("count", count);
                r.setProperty("weight", weight);
                if (time != null) {
                    r.setProperty("ts", time);
                    r.setProperty("first_ts", time);
                    r.setProperty("times", new long[] {time});
                }
            } else {
                r.setProperty("count", ((Number) r.getProperty("count", 0L)).longValue() + count);
                r.setProperty("weight", replace.get(k)
                        ? weight : ((Number) r.getProperty("weight", 0.0)).doubleValue() + weight);
                if (time != null) {
                    Object last = r.getProperty("ts", null);
                    // the earliest time; an edge from before first_ts was kept starts from ts
                    Object first = r.getProperty("first_ts", last);
                    if (first == null || time < ((Number) first).longValue()) {
                        r.setProperty("first_ts", time);
                    } else if (!r.hasProperty("first_ts")) {
                        r.setProperty("first_ts", ((Number) first).longValue());
                    }
                    if (last == null || time > ((Number) last).longValue()) {
                        r.setProperty("ts", time);
                    }
                    long[] times = (long[]) r.getProperty("times", new long[0]);
                    long[] grown = Arrays.copyOfRange(
                            times, Math.max(0, times.length + 1 - TIMES_KEPT), times.length + 1);
                    grown[grown.length - 1] = time;
                    r.setProperty("times", grown);
                }
            }
            stamp(user, seq);
        }
        return Stream.of(new Applied(n));
    }

    @Procedure(name = "profilegraph.applyFollows", mode = Mode.WRITE)
    @Description("profilegraph.applyFollows(users, targets, ts, seq) - add FOLLOWS edges (see "
            + "cypher/ingest_follows.cypher)")
    public Stream<Applied> applyFollows(
            @Name("users") List<String> users,
            @Name("targets") List<String> targets,
            @Name("ts") List<Long> ts,
            @Name("seq") long seq) {
        int n = sameLength("applyFollows", users, targets, ts);
        Nodes nodes = new Nodes();
        for (int k = 0; k < n; k++) {
            Node user = nodes.get(USER, "user_id", users.get(k));
            Node target = nodes.get(USER, "user_id", targets.get(k));
            if (outgoing(user, FOLLOWS, target) == null) {
                Relationship f = user.createRelationshipTo(target, FOLLOWS);
                if (ts.get(k) != null) {
                    f.setProperty("ts", ts.get(k));
                }
            }
            stamp(user, seq);
            stamp(target, seq);
        }
        return Stream.of(new Applied(n));
    }

    @Procedure(name = "profilegraph.applyOrders", mode = Mode.WRITE)
    @Description("profilegraph.applyOrders(users, items, orders, lines, ts, amounts, quantities)"
            + " - record order lines (see cypher/ingest_orders.cypher)")
    public Stream<Applied> applyOrders(
            @Name("users") List<String> users,
            @Name("items") List<String> items,
            @Name("orders") List<String> orders,
            @Name("lines") List<String> lines,
            @Name("ts") List<Long> ts,
            @Name("amounts") List<Double> amounts,
            @Name("quantities") List<Long> quantities) {
        int n = sameLength("applyOrders", users, items, orders, lines, ts, amounts, quantities);
        Nodes nodes = new Nodes();
        Map<String, Node> touched = new LinkedHashMap<>();
        for (int k = 0; k < n; k++) {
            Node user = nodes.get(USER, "user_id", users.get(k));
            Node item = nodes.get(ITEM, "item_id", items.get(k));
            Node order = nodes.get(ORDER, "order_id", orders.get(k));
            tx.acquireWriteLock(order);
            touched.put(orders.get(k), order);
            long time = ts.get(k);
            Object first = order.getProperty("ts", null);
            if (first == null || time < ((Number) first).longValue()) {
                order.setProperty("ts", time);
            }
            if (incoming(order, PLACED, user) == null) {
                user.createRelationshipTo(order, PLACED);
            }
            Relationship line = null;
            for (Relationship c : order.getRelationships(Direction.OUTGOING, CONTAINS)) {
                if (c.getEndNode().equals(item) && lines.get(k).equals(c.getProperty("line_id", null))) {
                    line = c;
                    break;
                }
            }
            if (line == null) {
                line = order.createRelationshipTo(item, CONTAINS);
                line.setProperty("line_id", lines.get(k));
            }
            line.setProperty("quantity", quantities.get(k));
            if (amounts.get(k) == null) {
                line.removeProperty("amount");
            } else {
                line.setProperty("amount", amounts.get(k));
            }
        }
        for (Node order : touched.values()) { // an order's amount: the sum of its priced lines
            double total = 0.0;
            boolean priced = false;
            for (Relationship c : order.getRelationships(Direction.OUTGOING, CONTAINS)) {
                Object amount = c.getProperty("amount", null);
                if (amount != null) {
                    total += ((Number) amount).doubleValue();
                    priced = true;
                }
            }
            if (priced) {
                order.setProperty("amount", total);
            } else {
                order.removeProperty("amount");
            }
        }
        return Stream.of(new Applied(n));
    }

    /** Nodes found by their key, once per call. */
    private final class Nodes {
        private final Map<String, Node> found = new HashMap<>();

        Node get(Label label, String key, String id) {
            return found.computeIfAbsent(label.name() + "\0" + id, k -> {
                Node node = tx.findNode(label, key, id);
                if (node == null) {
                    throw new IllegalStateException(label.name() + " " + key + "=" + id
                            + " does not exist: ensure_ingest_nodes must run first");
                }
                return node;
            });
        }
    }

    private static int sameLength(String procedure, List<?>... columns) {
        int n = columns[0].size();
        for (List<?> column : columns) {
            if (column.size() != n) {
                throw new IllegalArgumentException(procedure + ": the columns differ in length");
            }
        }
        return n;
    }

    private static void stamp(Node node, long seq) {
        Object stamped = node.getProperty("changed_seq", null);
        if (stamped == null || ((Number) stamped).longValue() != seq) {
            node.setProperty("changed_seq", seq);
        }
    }

    /** The (from)-[type]->(to) relationship, looked up among from's, from locked first. */
    @SuppressWarnings("deprecation") // internal ids compare the other end cheaply
    private Relationship outgoing(Node from, RelationshipType type, Node to) {
        tx.acquireWriteLock(from);
        long other = to.getId();
        for (Relationship r : from.getRelationships(Direction.OUTGOING, type)) {
            if (r.getEndNodeId() == other) {
                return r;
            }
        }
        return null;
    }

    /** The (from)-[type]->(to) relationship, looked up among to's (to is locked by the caller). */
    @SuppressWarnings("deprecation")
    private static Relationship incoming(Node to, RelationshipType type, Node from) {
        long other = from.getId();
        for (Relationship r : to.getRelationships(Direction.INCOMING, type)) {
            if (r.getStartNodeId() == other) {
                return r;
            }
        }
        return null;
    }
}
