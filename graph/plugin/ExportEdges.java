package profilegraph;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.neo4j.graphdb.Direction;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.NotFoundException;
import org.neo4j.graphdb.Relationship;
import org.neo4j.graphdb.RelationshipType;
import org.neo4j.graphdb.Transaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;

/**
 * Edge export for graph/export.py: the outgoing relationships of a chunk of nodes, as packed
 * little-endian columns.
 *
 * Why a procedure: through Cypher every edge becomes several values the server builds and the
 * Python driver decodes one by one, which caps an export at a few hundred thousand edges per
 * second on a small machine. Here the store is read through the embedded API and each column
 * leaves as one byte array, which the client maps with numpy without a per-value step.
 * Read-only; it takes internal node ids exactly like the Cypher export queries.
 */
public class ExportEdges {
    @Context
    public Transaction tx;

    /**
     * One chunk: parallel columns, one entry per relationship, grouped by type in the order of
     * the requested type list; the edges of type k are rows offsets[k] to offsets[k + 1].
     */
    public static class Columns {
        /** int64: internal id of the start node. */
        public byte[] src;
        /** int64: internal id of the end node. */
        public byte[] dst;
        /** float32: weight (1.0 when absent or not requested). */
        public byte[] weight;
        /** int64: ts (the latest event's time) in epoch ms (-1 when absent or not requested). */
        public byte[] ts;
        /** int64: first_ts (the earliest event's time; ts where not recorded). */
        public byte[] first_ts;
        /** int64: count (1 when absent or not requested). */
        public byte[] count;
        /** int64: types.size() + 1 row offsets. */
        public byte[] offsets;
    }

    @SuppressWarnings("deprecation") // internal ids, as in the Cypher export (id(n))
    @Procedure(name = "profilegraph.exportEdges", mode = Mode.READ)
    @Description("profilegraph.exportEdges(ids, types, properties, start, end) - outgoing "
            + "relationships of the given nodes as packed columns grouped by type")
    public Stream<Columns> exportEdges(
            @Name("ids") List<Long> ids,
            @Name("types") List<String> types,
            @Name("properties") boolean properties,
            @Name("start") Long start,
            @Name("end") Long end) {
        RelationshipType[] wanted = new RelationshipType[types.size()];
        Map<String, Integer> code = new HashMap<>();
        for (int k = 0; k < wanted.length; k++) {
            wanted[k] = RelationshipType.withName(types.get(k));
            code.put(types.get(k), k);
        }
        boolean windowed = start != null && end != null;
        Growing[] out = new Growing[wanted.length];
        for (int k = 0; k < wanted.length; k++) {
            out[k] = new Growing(ids.size() * 4);
        }
        for (Long id : ids) {
            Node node;
            try {
                node = tx.getNodeById(id);
            } catch (NotFoundException deleted) {
                continue; // deleted since the ids were read: the export skips it like MATCH would
            }
            for (Relationship r : node.getRelationships(Direction.OUTGOING, wanted)) {
                long ts = -1;
                long first = -1;
                if (properties || windowed) {
                    Object value = r.getProperty("ts", null);
                    ts = value instanceof Number n ? n.longValue() : -1;
                    Object earliest = r.getProperty("first_ts", null);
                    first = earliest instanceof Number n ? n.longValue() : ts;
                }
                if (windowed && (ts == -1 || ts < start || ts >= end)) {
                    continue;
                }
                double weight = 1.0;
                long count = 1;
                if (properties) {
                    Object w = r.getProperty("weight", null);
                    Object c = r.getProperty("count", null);
                    weight = w instanceof Number n ? n.doubleValue() : 1.0;
                    count = c instanceof Number n ? n.longValue() : 1;
                }
                out[code.get(r.getType().name())].add(id, r.getEndNode().getId(), weight,
                        properties ? ts : -1, properties ? first : -1, count);
            }
        }
        return Stream.of(Growing.columns(out));
    }

    /** Primitive columns that grow by doubling (no boxing per edge). */
    private static final class Growing {
        long[] src, dst, ts, first, count;
        float[] weight;
        int size;

        Growing(int capacity) {
            capacity = Math.max(capacity, 16);
            src = new long[capacity];
            dst = new long[capacity];
            ts = new long[capacity];
            first = new long[capacity];
            count = new long[capacity];
            weight = new float[capacity];
        }

        void add(long s, long d, double w, long t, long f, long c) {
            if (size == src.length) {
                int grown = size * 2;
                src = Arrays.copyOf(src, grown);
                dst = Arrays.copyOf(dst, grown);
                ts = Arrays.copyOf(ts, grown);
                first = Arrays.copyOf(first, grown);
                count = Arrays.copyOf(count, grown);
                weight = Arrays.copyOf(weight, grown);
            }
            src[size] = s;
            dst[size] = d;
            weight[size] = (float) w;
            ts[size] = t;
            first[size] = f;
            count[size] = c;
            size++;
        }

        /** The groups one after the other, as little-endian byte columns. */
        static Columns columns(Growing[] groups) {
            long total = 0;
            for (Growing g : groups) total += g.size;
            ByteBuffer src = buffer(total * 8), dst = buffer(total * 8), ts = buffer(total * 8);
            ByteBuffer first = buffer(total * 8);
            ByteBuffer count = buffer(total * 8), weight = buffer(total * 4);
            ByteBuffer offsets = buffer((groups.length + 1) * 8L);
            long at = 0;
            offsets.putLong(0);
            for (Growing g : groups) {
                for (int i = 0; i < g.size; i++) {
                    src.putLong(g.src[i]);
                    dst.putLong(g.dst[i]);
                    ts.putLong(g.ts[i]);
                    first.putLong(g.first[i]);
                    count.putLong(g.count[i]);
                    weight.putFloat(g.weight[i]);
                }
                at += g.size;
                offsets.putLong(at);
            }
            Columns out = new Columns();
            out.src = src.array();
            out.dst = dst.array();
            out.ts = ts.array();
            out.first_ts = first.array();
            out.count = count.array();
            out.weight = weight.array();
            out.offsets = offsets.array();
            return out;
        }

        private static ByteBuffer buffer(long bytes) {
            return ByteBuffer.allocate(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
        }
    }
}
