// pgjdbc (Debian's libpostgresql-jdbc-java) against kubepg: DatabaseMetaData as DBeaver and
// Metabase call it, prepared statements run past pgjdbc's prepareThreshold so they switch to
// named server-side statements with binary results, and LISTEN with getNotifications. Prints
// `key<TAB>value` lines for the Rust suite. Arguments: JDBC URL, user, password, then the
// kubeconfig and context with which kubectl makes the change LISTEN is to hear.

import java.sql.*;
import java.util.*;

public class JdbcCheck {
    static void emit(String key, Object value) {
        System.out.println(key + "\t" + value);
    }

    static List<String> column(ResultSet rs, String name) throws SQLException {
        List<String> values = new ArrayList<>();
        while (rs.next()) {
            values.add(rs.getString(name));
        }
        return values;
    }

    static int count(ResultSet rs) throws SQLException {
        int n = 0;
        while (rs.next()) {
            n++;
        }
        return n;
    }

    static void kubectl(String[] args, String... command) throws Exception {
        List<String> argv = new ArrayList<>(List.of("kubectl", "--kubeconfig", args[3], "--context", args[4], "-n", "shop"));
        argv.addAll(List.of(command));
        Process p = new ProcessBuilder(argv).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (p.waitFor() != 0) {
            throw new AssertionError("kubectl " + argv + " failed");
        }
    }

    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
            DatabaseMetaData md = c.getMetaData();
            emit("product", md.getDatabaseProductName() + " " + md.getDatabaseMajorVersion());
            emit("catalogs", column(md.getCatalogs(), "TABLE_CAT"));
            emit("schemas", column(md.getSchemas(), "TABLE_SCHEM"));
            List<String> tables = column(md.getTables(null, "public", "%", new String[] {"TABLE"}), "TABLE_NAME");
            emit("tables_has_pods", tables.contains("pods"));
            ResultSet cols = md.getColumns(null, "public", "pods", "%");
            Map<String, String> types = new LinkedHashMap<>();
            while (cols.next()) {
                types.put(cols.getString("COLUMN_NAME"), cols.getString("TYPE_NAME"));
            }
            emit("column_types", types);
            emit("primary_keys", count(md.getPrimaryKeys(null, "public", "pods")));
            List<String> typeNames = column(md.getTypeInfo(), "TYPE_NAME");
            emit("type_info_has_jsonb", typeNames.contains("jsonb"));
            emit("type_info_has_text", typeNames.contains("text"));

            PreparedStatement ps = c.prepareStatement(
                "SELECT name, created, labels, restarts FROM pods WHERE namespace = ? AND restarts >= ? ORDER BY name");
            for (int run = 0; run < 7; run++) {
                ps.setString(1, "shop");
                ps.setInt(2, 0);
                try (ResultSet rs = ps.executeQuery()) {
                    List<String> names = new ArrayList<>();
                    while (rs.next()) {
                        names.add(rs.getString(1));
                        if (rs.getTimestamp(2) == null) {
                            throw new AssertionError("created is null for " + rs.getString(1));
                        }
                    }
                    emit("prepared_run_" + run, names);
                }
            }
            try {
                c.createStatement().executeQuery("SELECT * FROM no_such_table");
            } catch (SQLException e) {
                emit("error", e.getSQLState());
            }
            try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM namespaces")) {
                rs.next();
                emit("after_error", rs.getLong(1));
            }

            try (Statement s = c.createStatement()) {
                s.execute("LISTEN \"serviceaccounts/shop\"");
            }
            kubectl(args, "create", "serviceaccount", "jdbc-listen");
            org.postgresql.PGNotification[] heard = c.unwrap(org.postgresql.PGConnection.class).getNotifications(60000);
            kubectl(args, "delete", "serviceaccount", "jdbc-listen");
            if (heard != null && heard.length > 0) {
                emit("notify_channel", heard[0].getName());
                emit("notify_payload", heard[0].getParameter());
            }
        }
    }
}
