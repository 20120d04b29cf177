package profilegraph;

import java.util.HashSet;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.stream.Stream;

import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.ResourceIterator;
import org.neo4j.graphdb.Transaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;

/**
 * Exact look-alike search: the k profiled users whose embedding has the highest cosine
 * similarity to a centre, by scanning every user's profile_embedding (no vector index, so the
 * write-back inserts nothing into one). Recall is 1 by construction; the cost grows with the
 * number of users (bench/writeback.py measures it beside the HNSW index).
 */
public class Lookalikes {
    private static final Label USER = Label.label("User");

    @Context
    public Transaction tx;

    public static class Match {
        public Node node;
        public double score;

        public Match(Node node, double score) {
            this.node = node;
            this.score = score;
        }
    }

    @Procedure(name = "profilegraph.lookalikes", mode = Mode.READ)
    @Description("profilegraph.lookalikes(centre, k, exclude) - the k users most similar "
            + "(cosine) to centre by profile_embedding, exactly, leaving out the user ids in "
            + "exclude")
    public Stream<Match> lookalikes(
            @Name("centre") List<Double> centre,
            @Name("k") long k,
            @Name("exclude") List<String> exclude) {
        int dim = centre.size();
        double[] c = new double[dim];
        double norm = 0.0;
        for (int d = 0; d < dim; d++) {
            c[d] = centre.get(d);
            norm += c[d] * c[d];
        }
        if (k < 1 || norm == 0.0) {
            return Stream.empty();
        }
        double cNorm = Math.sqrt(norm);
        Set<String> skip = new HashSet<>(exclude);
        // the k best so far, worst on top
        PriorityQueue<Match> best = new PriorityQueue<>((a, b) -> Double.compare(a.score, b.score));
        try (ResourceIterator<Node> users = tx.findNodes(USER)) {
            while (users.hasNext()) {
                Node user = users.next();
                Object stored = user.getProperty("profile_embedding", null);
                if (!(stored instanceof float[] v) || v.length != dim) {
                    continue;
                }
                double dot = 0.0;
                double vNorm = 0.0;
                for (int d = 0; d < dim; d++) {
                    dot += c[d] * v[d];
                    vNorm += (double) v[d] * v[d];
                }
                if (vNorm == 0.0) {
                    continue;
                }
                // as the vector index scores cosine: (1 + cos) / 2, so 1 is the same direction
                double score = (1.0 + dot / (cNorm * Math.sqrt(vNorm))) / 2.0;
                if (best.size() < k || score > best.peek().score) {
                    if (skip.contains((String) user.getProperty("user_id", ""))) {
                        continue;
                    }
                    best.add(new Match(user, score));
                    if (best.size() > k) {
                        best.poll();
                    }
                }
            }
        }
        return best.stream().sorted((a, b) -> Double.compare(b.score, a.score));
    }
}
