import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * pgjdbc against kubepg when a cluster is too slow to answer: the query fails with the
 * cluster's SQLSTATE, and the connection stays valid, as connection pools (HikariCP) check with
 * isValid() before they keep a connection. Prints one JSON object of what it saw.
 *
 * Argument: the JDBC URL.
 */
public class JdbcSlowCluster {
    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0], "kubepg", "")) {
            String state = "none";
            String message = "";
            try (Statement st = conn.createStatement();
                    ResultSet rs = st.executeQuery("SELECT count(*) FROM pods")) {
                rs.next();
            } catch (SQLException e) {
                state = e.getSQLState();
                message = e.getMessage().replace("\\", "\\\\").replace("\"", "\\\"");
            }
            boolean valid = conn.isValid(5);
            long after;
            try (Statement st = conn.createStatement();
                    ResultSet rs = st.executeQuery("SELECT count(*) FROM namespaces")) {
                rs.next();
                after = rs.getLong(1);
            }
            System.out.println(
                    "{\"state\": \"" + state + "\", \"message\": \"" + message + "\", \"valid\": "
                            + valid + ", \"after\": " + after + "}");
        }
    }
}
