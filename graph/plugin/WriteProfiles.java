package profilegraph;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import org.neo4j.graphdb.Direction;
import org.neo4j.graphdb.Entity;
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
 * The profile write-back (graph/writeback.py) as packed columns: the effect of
 * cypher/write_profiles.cypher, user by user, without Cypher's per-row interpretation.
 *
 * {@code batch} holds parallel columns, one entry per user unless said otherwise:
 * users, watermark (one number), props (property name to its column; null removes), embeddings
 * (all users' vectors, one flat list, dim each), trails, field_trails (per declared field
 * trail, core/profile_contract.FIELD_TRAILS: its property and a column of entries), trail_key
 * (one string),
 * online_fields (the properties a user keeps where the online path moved them after the batch's
 * watermark: profile_online_epoch above it),
 * provenance (the properties set on every written user: run id, watermark, time), digests (each
 * user's part digests, stored as profile_digests), write (per part - props, embedding,
 * interests, recommendations, then each field_edges part - a boolean column: is it written; a
 * part not written is left as stored, and props not written means provenance only), parts (the
 * parts in the order of each user's digests), field_edges (the edges a list field implies, as
 * core/profile_contract.py declares them: each with its part, type, label, key, properties and
 * whether the online path moves them), and edge tables whose {@code user} column indexes the
 * users: interests (name, rank, weight, items, friends, adoptions), recommendations (item_id,
 * rank, score, kind, reason, category) and one per field_edges part (its key, rank and value
 * property), holding the rows of the users whose list is written.
 *
 * A user is skipped when missing, when their stored profile is newer (profile_watermark above
 * the batch's) or when they may not be profiled. Edges to targets the new lists still name are
 * updated in place; the rest are replaced (what locks the dense category and item nodes).
 */
public class WriteProfiles {
    private static final Label USER = Label.label("User");
    private static final Label ITEM = Label.label("Item");
    private static final Label CATEGORY = Label.label("Category");
    private static final RelationshipType INTERESTED_IN = RelationshipType.withName("INTERESTED_IN");
    private static final RelationshipType RECOMMENDED = RelationshipType.withName("RECOMMENDED");

    @Context
    public Transaction tx;

    public static class Written {
        public long written;

        public Written(long written) {
            this.written = written;
        }
    }

    /** One edge table: its columns, and each user's rows (in the order given). */
    private static final class Edges {
        final Map<String, List<Object>> columns;
        final Map<Integer, List<Integer>> byUser = new HashMap<>();

        @SuppressWarnings("unchecked")
        Edges(Object table) {
            columns = table == null ? Map.of() : (Map<String, List<Object>>) table;
            List<Object> users = columns.getOrDefault("user", List.of());
            for (int k = 0; k < users.size(); k++) {
                byUser.computeIfAbsent(((Number) users.get(k)).intValue(), u -> new ArrayList<>())
                        .add(k);
            }
        }

        List<Integer> rows(int user) {
            return byUser.getOrDefault(user, List.of());
        }

        Object get(String column, int row) {
            return columns.get(column).get(row);
        }
    }

    /** The edges a list field implies (core/profile_contract.FieldEdges) and their table. */
    private static final class FieldEdges {
        final String part;
        final RelationshipType type;
        final Label label;
        final String key;
        final String[] properties;
        final boolean online;
        final int digestIndex;
        final Edges table;

        @SuppressWarnings("unchecked")
        FieldEdges(Map<String, Object> declared, List<String> parts, Map<String, Object> batch) {
            part = (String) declared.get("part");
            type = RelationshipType.withName((String) declared.get("type"));
            label = Label.label((String) declared.get("label"));
            key = (String) declared.get("key");
            properties = ((List<String>) declared.get("properties")).toArray(new String[0]);
            online = (Boolean) declared.get("online");
            digestIndex = parts.indexOf(part);
            table = new Edges(batch.get(part));
        }
    }

    @Procedure(name = "profilegraph.writeProfiles", mode = Mode.WRITE)
    @Description("profilegraph.writeProfiles(batch, runId, trailRuns, consentDefault) - write "
            + "complete profiles from packed columns (see cypher/write_profiles.cypher)")
    @SuppressWarnings("unchecked")
    public Stream<Written> writeProfiles(
            @Name("batch") Map<String, Object> batch,
            @Name("runId") String runId,
            @Name("trailRuns") long trailRuns,
            @Name("consentDefault") boolean consentDefault) {
        List<String> users = (List<String>) batch.get("users");
        long watermark = ((Number) batch.get("watermark")).longValue();
        Map<String, List<Object>> props = (Map<String, List<Object>>) batch.get("props");
        List<Double> embeddings = (List<Double>) batch.get("embeddings");
        int dim = ((Number) batch.get("dim")).intValue();
        List<String> trails = (List<String>) batch.get("trails");
        List<Map<String, Object>> fieldTrails =
                (List<Map<String, Object>>) batch.get("field_trails");
        String trailKey = (String) batch.get("trail_key");
        Set<String> onlineFields = new HashSet<>((List<String>) batch.get("online_fields"));
        Set<String> provenance = new HashSet<>((List<String>) batch.get("provenance"));
        List<List<String>> digests = (List<List<String>>) batch.get("digests");
        Map<String, List<Boolean>> write = (Map<String, List<Boolean>>) batch.get("write");
        Edges interests = new Edges(batch.get("interests"));
        Edges recommendations = new Edges(batch.get("recommendations"));
        List<String> parts = (List<String>) batch.get("parts");
        List<FieldEdges> fieldEdges = new ArrayList<>();
        for (Map<String, Object> declared : (List<Map<String, Object>>) batch.get("field_edges")) {
            fieldEdges.add(new FieldEdges(declared, parts, batch));
        }
        if (embeddings.size() != (long) users.size() * dim) {
            throw new IllegalArgumentException("writeProfiles: embeddings are not users x dim");
        }
        Map<String, Node> categories = new HashMap<>();
        Map<String, Node> items = new HashMap<>();
        Map<String, Map<String, Node>> targets = new HashMap<>(); // per label: by key
        targets.put(CATEGORY.name(), categories);
        targets.put(ITEM.name(), items);
        long written = 0;
        for (int u = 0; u < users.size(); u++) {
            Node user = tx.findNode(USER, "user_id", users.get(u));
            if (user == null) {
                continue;
            }
            tx.acquireWriteLock(user);
            Object stored = user.getProperty("profile_watermark", null);
            if (stored != null && ((Number) stored).longValue() > watermark) {
                continue; // a newer profile: never rolled back
            }
            Object consent = user.getProperty("profiling_consent", null);
            if (!(consent == null ? consentDefault : (Boolean) consent)) {
                continue;
            }
            Object onlineEpoch = user.getProperty("profile_online_epoch", null);
            boolean onlineNewer =
                    onlineEpoch != null && ((Number) onlineEpoch).longValue() > watermark;
            boolean allProps = write.get("props").get(u);
            for (Map.Entry<String, List<Object>> column : props.entrySet()) {
                if (!allProps && !provenance.contains(column.getKey())) {
                    continue; // unchanged: as stored
                }
                if (onlineNewer && onlineFields.contains(column.getKey())) {
                    continue; // moved online after this run's snapshot: the newer value stays
                }
                setOrRemove(user, column.getKey(), column.getValue().get(u));
            }
            String[] digest = digests.get(u).toArray(new String[0]);
            if (onlineNewer) {
                digest[0] = ""; // the properties are not all this run's: compare as changed
                for (FieldEdges e : fieldEdges) {
                    if (e.online) {
                        digest[e.digestIndex] = ""; // its edges stay the online ones
                    }
                }
            }
            user.setProperty("profile_digests", digest);
            user.setProperty("profile_trail", trail(user, "profile_trail", trails.get(u),
                    trailKey, trailRuns));
            for (Map<String, Object> fieldTrail : fieldTrails) {
                String key = (String) fieldTrail.get("property");
                String entry = ((List<String>) fieldTrail.get("entries")).get(u);
                user.setProperty(key, trail(user, key, entry, trailKey, trailRuns));
            }
            if (write.get("embedding").get(u)) {
                float[] vector = new float[dim];
                for (int d = 0; d < dim; d++) {
                    vector[d] = embeddings.get(u * dim + d).floatValue();
                }
                user.setProperty("profile_embedding", vector);
            }
            if (write.get("interests").get(u)) {
                replaceEdges(user, INTERESTED_IN, interests, interests.rows(u), "name", CATEGORY,
                        "name", categories, runId, new String[] {"rank", "weight", "items",
                                "friends", "adoptions"});
            }
            if (write.get("recommendations").get(u)) {
                replaceEdges(user, RECOMMENDED, recommendations, recommendations.rows(u),
                        "item_id", ITEM, "item_id", items, runId, new String[] {"rank", "score",
                                "kind", "reason", "category"});
            }
            for (FieldEdges e : fieldEdges) {
                if (write.get(e.part).get(u) && !(onlineNewer && e.online)) { // else: online ones stay
                    replaceEdges(user, e.type, e.table, e.table.rows(u), e.key, e.label, e.key,
                            targets.computeIfAbsent(e.label.name(), k -> new HashMap<>()), runId,
                            e.properties);
                }
            }
            written++;
        }
        return Stream.of(new Written(written));
    }

    /** Set a property from a parameter value (a list as the array Neo4j stores); null removes. */
    private static void setOrRemove(Entity entity, String key, Object value) {
        if (value == null) {
            entity.removeProperty(key);
        } else if (value instanceof List<?> list) {
            entity.setProperty(key, array(list));
        } else {
            entity.setProperty(key, value);
        }
    }

    /** A list parameter as the array Neo4j stores (strings, floats, longs or booleans). */
    private static Object array(List<?> list) {
        Object first = list.isEmpty() ? "" : list.get(0);
        if (first instanceof String) {
            return list.toArray(new String[0]);
        }
        if (first instanceof Double) {
            double[] out = new double[list.size()];
            for (int k = 0; k < out.length; k++) {
                out[k] = ((Number) list.get(k)).doubleValue();
            }
            return out;
        }
        if (first instanceof Long) {
            long[] out = new long[list.size()];
            for (int k = 0; k < out.length; k++) {
                out[k] = ((Number) list.get(k)).longValue();
            }
            return out;
        }
        if (first instanceof Boolean) {
            boolean[] out = new boolean[list.size()];
            for (int k = 0; k < out.length; k++) {
                out[k] = (Boolean) list.get(k);
            }
            return out;
        }
        throw new IllegalArgumentException("writeProfiles: unsupported list of " + first.getClass());
    }

    /** A stored list of strings (an empty list may be stored as another array type). */
    private static String[] strings(Object stored) {
        return stored instanceof String[] s ? s : new String[0];
    }

    /** This run's entry first, then the other runs' entries, at most trailRuns of them. */
    private static String[] trail(Node user, String key, String entry, String trailKey,
            long trailRuns) {
        String[] old = strings(user.getProperty(key, null));
        List<String> out = new ArrayList<>();
        out.add(entry);
        for (String e : old) {
            if (!e.startsWith(trailKey)) {
                out.add(e);
            }
        }
        return out.subList(0, (int) Math.min(out.size(), trailRuns)).toArray(new String[0]);
    }

    /**
     * Bring the user's edges of one type in line with the table's rows: an edge to a target the
     * rows still name is updated in place (its rank too); the others are deleted, and targets
     * new to the user get an edge. A row whose target does not exist is left out (as MATCH
     * would). Creating and deleting edges of the dense category and item nodes is most of the
     * write-back's cost (bench/writeback.py), so a list that keeps its items costs little.
     */
    @SuppressWarnings("deprecation") // internal ids key the targets cheaply
    private void replaceEdges(Node user, RelationshipType type, Edges table, List<Integer> rows,
            String targetColumn, Label targetLabel, String targetKey, Map<String, Node> targets,
            String runId, String[] properties) {
        Map<Long, Relationship> byTarget = new HashMap<>();
        for (Relationship r : user.getRelationships(Direction.OUTGOING, type)) {
            Relationship twin = byTarget.put(r.getEndNodeId(), r);
            if (twin != null) {
                twin.delete(); // two edges to one target: keep one
            }
        }
        for (int row : rows) {
            String id = (String) table.get(targetColumn, row);
            Node target = targets.computeIfAbsent(id, k -> tx.findNode(targetLabel, targetKey, k));
            if (target == null) {
                continue;
            }
            Relationship r = byTarget.remove(target.getId());
            if (r == null) {
                r = user.createRelationshipTo(target, type);
            }
            for (String p : properties) {
                setOrRemove(r, p, table.get(p, row));
            }
            r.setProperty("run_id", runId);
        }
        for (Relationship stale : byTarget.values()) {
            stale.delete();
        }
    }
}
