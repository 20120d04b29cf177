package profilegraph.guide;

import java.io.IOException;
import java.io.InputStream;

import javax.ws.rs.GET;
import javax.ws.rs.Path;
import javax.ws.rs.Produces;
import javax.ws.rs.core.Response;

/**
 * The analyst guide (graph/plugin/guide.html, generated from the cypher/ query headers by
 * graph/browser_guide.py) at /profilegraph/guide, so Neo4j Browser plays it from its own origin:
 * `:play http://127.0.0.1:7474/profilegraph/guide`. Mounted by server.unmanaged_extension_classes.
 */
@Path("/")
public class AnalystGuide {
    @GET
    @Path("guide")
    @Produces("text/html; charset=utf-8")
    public Response guide() throws IOException {
        try (InputStream in = AnalystGuide.class.getResourceAsStream("/profilegraph/guide.html")) {
            if (in == null) {
                return Response.status(Response.Status.NOT_FOUND).build();
            }
            return Response.ok(in.readAllBytes()).build();
        }
    }
}
