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

    // Metabase's sync (metabase/metabase src/metabase/driver/postgres.clj, describe-fields-sql
    // and describe-indexes-sql as HoneySQL renders them for schema public), run as it runs them:
    // prepared through pgjdbc with its bound values.
    static final String METABASE_DESCRIBE_FIELDS =
        "SELECT \"c\".\"column_name\" AS \"name\", CASE WHEN \"c\".\"udt_schema\" IN ('public', 'pg_catalog') THEN FORMAT('%s', \"c\".\"udt_name\") ELSE FORMAT('\"%s\".\"%s\"', \"c\".\"udt_schema\", \"c\".\"udt_name\") END AS \"database-type\", \"c\".\"ordinal_position\" - 1 AS \"database-position\", \"c\".\"table_schema\" AS \"table-schema\", \"c\".\"table_name\" AS \"table-name\", \"pk\".\"column_name\" IS NOT NULL AS \"pk?\", COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST(\"c\".\"table_schema\" AS TEXT), CAST(\"c\".\"table_name\" AS TEXT)) AS REGCLASS) AS OID), \"c\".\"ordinal_position\") AS \"field-comment\", ((\"column_default\" IS NULL) OR (LOWER(\"column_default\") = 'null')) AND (\"is_nullable\" = 'NO') AND NOT (((\"column_default\" IS NOT NULL) AND (\"column_default\" LIKE '%nextval(%')) OR (\"is_identity\" <> 'NO')) AS \"database-required\", \"column_default\" AS \"database-default\", ((\"column_default\" IS NOT NULL) AND (\"column_default\" LIKE '%nextval(%')) OR (\"is_identity\" <> 'NO') AS \"database-is-auto-increment\", \"is_generated\" = ? AS \"database-is-generated\", \"is_nullable\" = 'YES' AS \"database-is-nullable\" FROM \"information_schema\".\"columns\" AS \"c\" LEFT JOIN (SELECT \"tc\".\"table_schema\", \"tc\".\"table_name\", \"kc\".\"column_name\" FROM \"information_schema\".\"table_constraints\" AS \"tc\" INNER JOIN \"information_schema\".\"key_column_usage\" AS \"kc\" ON (\"tc\".\"constraint_name\" = \"kc\".\"constraint_name\") AND (\"tc\".\"table_schema\" = \"kc\".\"table_schema\") AND (\"tc\".\"table_name\" = \"kc\".\"table_name\") WHERE \"tc\".\"constraint_type\" = 'PRIMARY KEY') AS \"pk\" ON (\"c\".\"table_schema\" = \"pk\".\"table_schema\") AND (\"c\".\"table_name\" = \"pk\".\"table_name\") AND (\"c\".\"column_name\" = \"pk\".\"column_name\") WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND (\"c\".\"table_schema\" IN (?)) UNION ALL SELECT \"pa\".\"attname\" AS \"name\", CASE WHEN \"ptn\".\"nspname\" IN ('public', 'pg_catalog') THEN FORMAT('%s', \"pt\".\"typname\") ELSE FORMAT('\"%s\".\"%s\"', \"ptn\".\"nspname\", \"pt\".\"typname\") END AS \"database-type\", \"pa\".\"attnum\" - 1 AS \"database-position\", \"pn\".\"nspname\" AS \"table-schema\", \"pc\".\"relname\" AS \"table-name\", FALSE AS \"pk?\", NULL AS \"field-comment\", FALSE AS \"database-required\", NULL AS \"database-default\", FALSE AS \"database-is-auto-increment\", FALSE AS \"database-is-generated\", FALSE AS \"database-is-nullable\" FROM \"pg_catalog\".\"pg_class\" AS \"pc\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"pn\" ON \"pn\".\"oid\" = \"pc\".\"relnamespace\" INNER JOIN \"pg_catalog\".\"pg_attribute\" AS \"pa\" ON \"pa\".\"attrelid\" = \"pc\".\"oid\" INNER JOIN \"pg_catalog\".\"pg_type\" AS \"pt\" ON \"pt\".\"oid\" = \"pa\".\"atttypid\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"ptn\" ON \"ptn\".\"oid\" = \"pt\".\"typnamespace\" WHERE (\"pc\".\"relkind\" = 'm') AND (\"pa\".\"attnum\" >= 1) AND (\"pn\".\"nspname\" IN (?)) ORDER BY \"table-schema\" ASC, \"table-name\" ASC, \"database-position\" ASC";
    static final String METABASE_DESCRIBE_INDEXES =
        "SELECT \"tmp\".\"table-schema\", \"tmp\".\"table-name\", TRIM(BOTH '\"' FROM PG_CATALOG.PG_GET_INDEXDEF(\"tmp\".\"ci_oid\", \"tmp\".\"pos\", FALSE)) AS \"field-name\" FROM (SELECT \"n\".\"nspname\" AS \"table-schema\", \"ct\".\"relname\" AS \"table-name\", \"ci\".\"oid\" AS \"ci_oid\", (INFORMATION_SCHEMA._PG_EXPANDARRAY(\"i\".\"indkey\")).\"n\" AS \"pos\" FROM \"pg_catalog\".\"pg_class\" AS \"ct\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"n\" ON \"ct\".\"relnamespace\" = \"n\".\"oid\" INNER JOIN \"pg_catalog\".\"pg_index\" AS \"i\" ON \"ct\".\"oid\" = \"i\".\"indrelid\" INNER JOIN \"pg_catalog\".\"pg_class\" AS \"ci\" ON \"ci\".\"oid\" = \"i\".\"indexrelid\" WHERE (PG_CATALOG.PG_GET_EXPR(\"i\".\"indpred\", \"i\".\"indrelid\") IS NULL) AND n.nspname !~ '^information_schema|catalog_history|pg_' AND (\"n\".\"nspname\" IN (?))) AS \"tmp\" WHERE \"tmp\".\"pos\" = 1";

    interface RowText {
        /** The row as text, or null to leave it out. */
        String of(ResultSet rs) throws SQLException;
    }

    /** What `text` makes of each row of the pods table that Metabase's `sql` answers. */
    static List<String> metabase(Connection c, String sql, RowText text, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) {
                ps.setObject(i + 1, params[i]);
            }
            ResultSet rs = ps.executeQuery();
            List<String> out = new ArrayList<>();
            while (rs.next()) {
                String row = "pods".equals(rs.getString("table-name")) ? text.of(rs) : null;
                if (row != null) {
                    out.add(row);
                }
            }
            return out;
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
            ResultSet keys = md.getPrimaryKeys(null, "public", "pods");
            List<String> keyColumns = new ArrayList<>();
            while (keys.next()) {
                keyColumns.add(keys.getString("PK_NAME") + ":" + keys.getShort("KEY_SEQ") + ":" + keys.getString("COLUMN_NAME"));
            }
            emit("primary_keys", keyColumns);
            ResultSet index = md.getIndexInfo(null, "public", "pods", true, false);
            List<String> indexColumns = new ArrayList<>();
            while (index.next()) {
                indexColumns.add(index.getString("INDEX_NAME") + ":" + index.getBoolean("NON_UNIQUE") + ":"
                    + index.getString("COLUMN_NAME") + ":" + index.getString("FILTER_CONDITION"));
            }
            emit("index_info", indexColumns);
            emit("best_row", column(md.getBestRowIdentifier(null, "public", "pods", DatabaseMetaData.bestRowSession, false), "COLUMN_NAME"));
            emit("metabase_key_fields", metabase(c, METABASE_DESCRIBE_FIELDS,
                rs -> rs.getBoolean("pk?") ? rs.getString("name") + ":" + rs.getString("database-type") : null,
                "ALWAYS", "public", "public"));
            emit("metabase_index_fields", metabase(c, METABASE_DESCRIBE_INDEXES, rs -> rs.getString("field-name"), "public"));
            emit("procedures_named_now", column(md.getProcedures(null, "pg_catalog", "now"), "PROCEDURE_NAME"));
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
