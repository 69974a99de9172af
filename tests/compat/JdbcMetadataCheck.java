// pgjdbc (Debian's libpostgresql-jdbc-java, /usr/share/java/postgresql.jar) against a PostgreSQL
// endpoint: EVERY DatabaseMetaData method that reads the catalog, the scalar ones that query it
// (getSQLKeywords, getMaxNameLength, getMaxColumnsInIndex, ...), and ResultSetMetaData of
// SELECT * FROM pods including the base table/column lookup PgResultSetMetaData.fetchFieldMetaData
// sends (from the table OID and attnum in RowDescription). The SQL is pgjdbc's own,
// pgjdbc/pgjdbc pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java and
// PgResultSetMetaData.java, chosen by the server_version the server reports. DBeaver, Metabase,
// DataGrip and most JDBC tools read a database through exactly these calls.
//
// Each check asserts the result's column labels (JDBC's, as pgjdbc names them) and that the
// reference shape comes back (tables, columns and types of pods, its primary key, ...).
//
//   java -cp /usr/share/java/postgresql.jar JdbcMetadataCheck.java [DSN]
// DSN: postgresql://user:password@host:port/dbname[?params], or COMPAT_DSN, or
// --host/--port/--dbname/--user/--password. Prints `ok NAME` / `FAIL NAME: why` per check and
// `pgjdbc: N passed, N failed`; exits 1 on any failure.

import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.sql.*;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.*;

public class JdbcMetadataCheck {
    static final String CLIENT = "pgjdbc";
    static int passed, failed;
    static String url, user, password, dbname;
    static Connection conn;

    interface Body { void run() throws Exception; }

    static void check(String name, Body body) {
        try {
            body.run();
            passed++;
            System.out.println("ok " + CLIENT + "." + name);
        } catch (Throwable t) {
            failed++;
            String why = (t.getClass().getSimpleName() + ": " + t.getMessage()).replace('\n', ' ');
            System.out.println("FAIL " + CLIENT + "." + name + ": " + (why.length() > 800 ? why.substring(0, 800) : why));
            if (System.getenv("COMPAT_VERBOSE") != null) t.printStackTrace();
        }
        System.out.flush();
    }

    static void expect(boolean cond, String why) {
        if (!cond) throw new AssertionError(why);
    }

    static void expectEq(Object got, Object want, String what) {
        if (!Objects.equals(got, want)) throw new AssertionError(what + ": got " + got + ", want " + want);
    }

    static Connection conn() throws SQLException {
        if (conn == null || conn.isClosed() || !conn.isValid(5)) {
            Properties p = new Properties();
            p.setProperty("user", user);
            p.setProperty("password", password);
            p.setProperty("ApplicationName", "kubepg-compat-pgjdbc");
            conn = DriverManager.getConnection(url, p);
        }
        return conn;
    }

    static DatabaseMetaData md() throws SQLException {
        return conn().getMetaData();
    }

    /** A metadata method pgjdbc does not implement answers SQLFeatureNotSupportedException without sending anything. */
    static void resultOrUnsupported(String name, Body body) {
        check(name, () -> {
            try {
                body.run();
            } catch (SQLFeatureNotSupportedException e) {
                System.out.println("# " + CLIENT + "." + name + ": not implemented by pgjdbc " + driverVersion() + " (nothing sent)");
            }
        });
    }

    static String driverVersion() {
        try { return md().getDriverVersion(); } catch (SQLException e) { return "?"; }
    }

    static List<String> labels(ResultSet rs) throws SQLException {
        ResultSetMetaData m = rs.getMetaData();
        List<String> out = new ArrayList<>();
        for (int i = 1; i <= m.getColumnCount(); i++) out.add(m.getColumnLabel(i));
        return out;
    }

    static List<Map<String, Object>> rows(ResultSet rs) throws SQLException {
        List<String> cols = labels(rs);
        List<Map<String, Object>> out = new ArrayList<>();
        try (rs) {
            while (rs.next()) {
                Map<String, Object> row = new LinkedHashMap<>();
                // JDBC column labels are case-insensitive (pgjdbc's unquoted aliases come back lower case)
                for (int i = 0; i < cols.size(); i++) row.put(cols.get(i).toUpperCase(Locale.ROOT), rs.getObject(i + 1));
                out.add(row);
            }
        }
        return out;
    }

    /**
     * Asserts the labels of a metadata result (case-insensitively, as ResultSet.getString(label)
     * matches them; a null label in WANT matches any, for JDBC's reserved columns), then returns
     * its rows keyed by upper-case label.
     */
    static List<Map<String, Object>> result(ResultSet rs, String... want) throws SQLException {
        List<String> got = labels(rs);
        boolean same = got.size() == want.length;
        for (int i = 0; same && i < want.length; i++) same = want[i] == null || want[i].equalsIgnoreCase(got.get(i));
        if (!same) {
            rs.close();
            throw new AssertionError("columns: got " + got + ", want " + Arrays.asList(want));
        }
        return rows(rs);
    }

    static List<Object> col(List<Map<String, Object>> rows, String name) {
        List<Object> out = new ArrayList<>();
        for (Map<String, Object> r : rows) out.add(r.get(name));
        return out;
    }

    static void parseTarget(String[] args) throws Exception {
        String dsn = System.getenv("COMPAT_DSN");
        String host = "127.0.0.1", port = "5432", query = "";
        dbname = "kubepg"; user = "kubepg"; password = "";
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].startsWith("--") && i + 1 < args.length) opts.put(args[i].substring(2), args[++i]);
            else dsn = args[i];
        }
        if (dsn != null) {
            URI u = new URI(dsn);
            if (u.getHost() != null) host = u.getHost();
            if (u.getPort() > 0) port = String.valueOf(u.getPort());
            if (u.getRawPath() != null && u.getRawPath().length() > 1) dbname = URLDecoder.decode(u.getRawPath().substring(1), StandardCharsets.UTF_8);
            if (u.getRawUserInfo() != null) {
                String[] ui = u.getRawUserInfo().split(":", 2);
                user = URLDecoder.decode(ui[0], StandardCharsets.UTF_8);
                if (ui.length > 1) password = URLDecoder.decode(ui[1], StandardCharsets.UTF_8);
            }
            if (u.getRawQuery() != null) query = u.getRawQuery();
        }
        host = opts.getOrDefault("host", host);
        port = opts.getOrDefault("port", port);
        dbname = opts.getOrDefault("dbname", dbname);
        user = opts.getOrDefault("user", user);
        password = opts.getOrDefault("password", password);
        url = "jdbc:postgresql://" + host + ":" + port + "/" + dbname + (query.isEmpty() ? "" : "?" + query);
    }

    static final List<String> POD_COLUMNS = List.of(
        "_cluster", "name", "namespace", "uid", "api_version", "kind", "created", "resource_version",
        "generation", "labels", "annotations", "owner_references", "finalizers", "deleted",
        "phase", "node_name", "pod_ip", "host_ip", "qos_class", "ready", "restarts", "containers",
        "cpu_request", "memory_request", "cpu_limit", "memory_limit", "start_time", "service_account",
        "restart_policy", "images", "spec", "status");
    static final Set<String> RESOURCE_TABLES = Set.of("pods", "deployments", "nodes", "configmaps");

    // JDBC's column labels per method, as pgjdbc names them.
    static final String[] TABLES_COLS = {"TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE", "REMARKS", "TYPE_CAT",
        "TYPE_SCHEM", "TYPE_NAME", "SELF_REFERENCING_COL_NAME", "REF_GENERATION"};
    static final String[] COLUMNS_COLS = {"TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "COLUMN_NAME", "DATA_TYPE", "TYPE_NAME",
        "COLUMN_SIZE", "BUFFER_LENGTH", "DECIMAL_DIGITS", "NUM_PREC_RADIX", "NULLABLE", "REMARKS", "COLUMN_DEF",
        "SQL_DATA_TYPE", "SQL_DATETIME_SUB", "CHAR_OCTET_LENGTH", "ORDINAL_POSITION", "IS_NULLABLE", "SCOPE_CATALOG",
        "SCOPE_SCHEMA", "SCOPE_TABLE", "SOURCE_DATA_TYPE", "IS_AUTOINCREMENT", "IS_GENERATEDCOLUMN"};
    static final String[] PK_COLS = {"TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "COLUMN_NAME", "KEY_SEQ", "PK_NAME"};
    static final String[] FK_COLS = {"PKTABLE_CAT", "PKTABLE_SCHEM", "PKTABLE_NAME", "PKCOLUMN_NAME", "FKTABLE_CAT",
        "FKTABLE_SCHEM", "FKTABLE_NAME", "FKCOLUMN_NAME", "KEY_SEQ", "UPDATE_RULE", "DELETE_RULE", "FK_NAME", "PK_NAME",
        "DEFERRABILITY"};
    static final String[] INDEX_COLS = {"TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "NON_UNIQUE", "INDEX_QUALIFIER",
        "INDEX_NAME", "TYPE", "ORDINAL_POSITION", "COLUMN_NAME", "ASC_OR_DESC", "CARDINALITY", "PAGES", "FILTER_CONDITION"};
    static final String[] TYPEINFO_COLS = {"TYPE_NAME", "DATA_TYPE", "PRECISION", "LITERAL_PREFIX", "LITERAL_SUFFIX",
        "CREATE_PARAMS", "NULLABLE", "CASE_SENSITIVE", "SEARCHABLE", "UNSIGNED_ATTRIBUTE", "FIXED_PREC_SCALE",
        "AUTO_INCREMENT", "LOCAL_TYPE_NAME", "MINIMUM_SCALE", "MAXIMUM_SCALE", "SQL_DATA_TYPE", "SQL_DATETIME_SUB",
        "NUM_PREC_RADIX"};
    static final String[] FUNCTIONS_COLS = {"FUNCTION_CAT", "FUNCTION_SCHEM", "FUNCTION_NAME", "REMARKS", "FUNCTION_TYPE",
        "SPECIFIC_NAME"};
    static final String[] FUNCTION_COLUMNS_COLS = {"FUNCTION_CAT", "FUNCTION_SCHEM", "FUNCTION_NAME", "COLUMN_NAME",
        "COLUMN_TYPE", "DATA_TYPE", "TYPE_NAME", "PRECISION", "LENGTH", "SCALE", "RADIX", "NULLABLE", "REMARKS",
        "CHAR_OCTET_LENGTH", "ORDINAL_POSITION", "IS_NULLABLE", "SPECIFIC_NAME"};
    static final String[] PROCEDURES_COLS = {"PROCEDURE_CAT", "PROCEDURE_SCHEM", "PROCEDURE_NAME", null, null, null, "REMARKS", "PROCEDURE_TYPE", "SPECIFIC_NAME"};
    static final String[] PROCEDURE_COLUMNS_COLS = {"PROCEDURE_CAT", "PROCEDURE_SCHEM", "PROCEDURE_NAME", "COLUMN_NAME",
        "COLUMN_TYPE", "DATA_TYPE", "TYPE_NAME", "PRECISION", "LENGTH", "SCALE", "RADIX", "NULLABLE", "REMARKS",
        "COLUMN_DEF", "SQL_DATA_TYPE", "SQL_DATETIME_SUB", "CHAR_OCTET_LENGTH", "ORDINAL_POSITION", "IS_NULLABLE",
        "SPECIFIC_NAME"};
    static final String[] UDT_COLS = {"TYPE_CAT", "TYPE_SCHEM", "TYPE_NAME", "CLASS_NAME", "DATA_TYPE", "REMARKS", "BASE_TYPE"};
    static final String[] SUPERTABLES_COLS = {"TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "SUPERTABLE_NAME"};
    static final String[] SUPERTYPES_COLS = {"TYPE_CAT", "TYPE_SCHEM", "TYPE_NAME", "SUPERTYPE_CAT", "SUPERTYPE_SCHEM",
        "SUPERTYPE_NAME"};
    static final String[] TABLE_PRIV_COLS = {"TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "GRANTOR", "GRANTEE", "PRIVILEGE",
        "IS_GRANTABLE"};
    static final String[] COLUMN_PRIV_COLS = {"TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "COLUMN_NAME", "GRANTOR",
        "GRANTEE", "PRIVILEGE", "IS_GRANTABLE"};
    static final String[] BEST_ROW_COLS = {"SCOPE", "COLUMN_NAME", "DATA_TYPE", "TYPE_NAME", "COLUMN_SIZE",
        "BUFFER_LENGTH", "DECIMAL_DIGITS", "PSEUDO_COLUMN"};
    static final String[] CLIENT_INFO_COLS = {"NAME", "MAX_LEN", "DEFAULT_VALUE", "DESCRIPTION"};
    static final String[] PSEUDO_COLS = {"TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "COLUMN_NAME", "DATA_TYPE",
        "COLUMN_SIZE", "DECIMAL_DIGITS", "NUM_PREC_RADIX", "COLUMN_USAGE", "REMARKS", "CHAR_OCTET_LENGTH", "IS_NULLABLE"};
    static final String[] ATTRIBUTES_COLS = {"TYPE_CAT", "TYPE_SCHEM", "TYPE_NAME", "ATTR_NAME", "DATA_TYPE",
        "ATTR_TYPE_NAME", "ATTR_SIZE", "DECIMAL_DIGITS", "NUM_PREC_RADIX", "NULLABLE", "REMARKS", "ATTR_DEF",
        "SQL_DATA_TYPE", "SQL_DATETIME_SUB", "CHAR_OCTET_LENGTH", "ORDINAL_POSITION", "IS_NULLABLE", "SCOPE_CATALOG",
        "SCOPE_SCHEMA", "SCOPE_TABLE", "SOURCE_DATA_TYPE"};

    public static void main(String[] args) throws Exception {
        parseTarget(args);

        check("connect", () -> {
            DatabaseMetaData m = md();
            expectEq(m.getDatabaseProductName(), "PostgreSQL", "getDatabaseProductName");
            expect(m.getDatabaseMajorVersion() >= 9, "getDatabaseMajorVersion " + m.getDatabaseMajorVersion());
            expect(m.getDatabaseProductVersion() != null && !m.getDatabaseProductVersion().isEmpty(), "getDatabaseProductVersion");
            expectEq(m.getUserName(), user, "getUserName");
            expectEq(conn().getCatalog(), dbname, "Connection.getCatalog");
        });

        check("Connection.getSchema", () -> {
            String s = conn().getSchema(); // select current_schema()
            expect("public".equals(s) || user.equals(s), "current_schema " + s);
        });

        check("scalars", () -> {
            DatabaseMetaData m = md();
            expectEq(m.getIdentifierQuoteString(), "\"", "getIdentifierQuoteString");
            expectEq(m.getSearchStringEscape(), "\\", "getSearchStringEscape");
            expectEq(m.getMaxTableNameLength(), 63, "getMaxTableNameLength (pg_type typlen of name)");
            expectEq(m.getMaxColumnNameLength(), 63, "getMaxColumnNameLength");
            expect(m.getMaxColumnsInIndex() >= 32, "getMaxColumnsInIndex (pg_settings max_index_keys) " + m.getMaxColumnsInIndex());
            expect(m.supportsSchemasInTableDefinitions(), "supportsSchemasInTableDefinitions");
            expect(m.getDefaultTransactionIsolation() == Connection.TRANSACTION_READ_COMMITTED, "getDefaultTransactionIsolation");
        });

        check("getSQLKeywords", () -> {
            String k = md().getSQLKeywords(); // pg_catalog.pg_get_keywords()
            expect(k != null && k.contains("limit") && k.contains("offset"), "keywords " + k);
        });

        check("getCatalogs", () -> {
            List<Map<String, Object>> r = result(md().getCatalogs(), "TABLE_CAT");
            expect(col(r, "TABLE_CAT").contains(dbname), "catalogs " + col(r, "TABLE_CAT"));
        });

        check("getSchemas()", () -> {
            List<Map<String, Object>> r = result(md().getSchemas(), "TABLE_SCHEM", "TABLE_CATALOG");
            List<Object> s = col(r, "TABLE_SCHEM");
            expect(s.contains("public") && s.contains("kubepg"), "schemas " + s);
        });

        check("getSchemas(catalog, pattern)", () -> {
            List<Map<String, Object>> r = result(md().getSchemas(null, "kub%"), "TABLE_SCHEM", "TABLE_CATALOG");
            expectEq(col(r, "TABLE_SCHEM"), List.of("kubepg"), "schemas like kub%");
        });

        check("getTableTypes", () -> {
            List<Object> t = col(result(md().getTableTypes(), "TABLE_TYPE"), "TABLE_TYPE");
            expect(t.contains("TABLE") && t.contains("VIEW"), "table types " + t);
        });

        check("getTables(public, TABLE)", () -> {
            List<Map<String, Object>> r = result(md().getTables(null, "public", "%", new String[] {"TABLE"}), TABLES_COLS);
            Set<Object> names = new HashSet<>(col(r, "TABLE_NAME"));
            expect(names.containsAll(RESOURCE_TABLES), "tables " + names);
            for (Map<String, Object> row : r) {
                expectEq(row.get("TABLE_TYPE"), "TABLE", "TABLE_TYPE of " + row.get("TABLE_NAME"));
                expectEq(row.get("TABLE_SCHEM"), "public", "TABLE_SCHEM");
            }
        });

        check("getTables(all types)", () -> {
            List<Map<String, Object>> r = result(md().getTables(null, null, "%", null), TABLES_COLS);
            Set<String> got = new HashSet<>();
            for (Map<String, Object> row : r) got.add(row.get("TABLE_SCHEM") + "." + row.get("TABLE_NAME") + ":" + row.get("TABLE_TYPE"));
            for (String want : List.of("public.pods:TABLE", "kubepg.clusters:TABLE", "kubepg.resources:TABLE",
                    "kubepg.tables:VIEW", "kubepg.changes:VIEW")) {
                expect(got.contains(want), "missing " + want);
            }
        });

        check("getTables(kubepg, VIEW)", () -> {
            List<Map<String, Object>> r = result(md().getTables(null, "kubepg", "%", new String[] {"VIEW"}), TABLES_COLS);
            expectEq(new TreeSet<>(col(r, "TABLE_NAME")), new TreeSet<>(List.of("changes", "tables")), "views");
        });

        check("getColumns(pods)", () -> {
            List<Map<String, Object>> r = result(md().getColumns(null, "public", "pods", "%"), COLUMNS_COLS);
            expectEq(col(r, "COLUMN_NAME"), POD_COLUMNS, "COLUMN_NAME");
            Map<String, Map<String, Object>> by = new HashMap<>();
            for (Map<String, Object> row : r) by.put((String) row.get("COLUMN_NAME"), row);
            Object[][] want = {
                {"_cluster", "text", Types.VARCHAR}, {"created", "timestamptz", Types.TIMESTAMP},
                {"generation", "int8", Types.BIGINT}, {"labels", "jsonb", Types.OTHER}, {"ready", "bool", Types.BIT},
                {"cpu_request", "float8", Types.DOUBLE}, {"restarts", "int8", Types.BIGINT}, {"status", "jsonb", Types.OTHER},
            };
            for (Object[] w : want) {
                Map<String, Object> row = by.get((String) w[0]);
                expectEq(row.get("TYPE_NAME"), w[1], "TYPE_NAME of " + w[0]);
                expectEq(((Number) row.get("DATA_TYPE")).intValue(), w[2], "DATA_TYPE of " + w[0]);
            }
            for (int i = 0; i < r.size(); i++) expectEq(((Number) r.get(i).get("ORDINAL_POSITION")).intValue(), i + 1, "ORDINAL_POSITION");
            expectEq(((Number) by.get("uid").get("NULLABLE")).intValue(), DatabaseMetaData.columnNoNulls, "NULLABLE of uid");
            expectEq(by.get("uid").get("IS_NULLABLE"), "NO", "IS_NULLABLE of uid");
            expectEq(by.get("name").get("IS_NULLABLE"), "YES", "IS_NULLABLE of name");
            expectEq(by.get("name").get("IS_AUTOINCREMENT"), "NO", "IS_AUTOINCREMENT");
            expectEq(by.get("name").get("COLUMN_DEF"), null, "COLUMN_DEF");
        });

        check("getColumns(all)", () -> {
            List<Map<String, Object>> r = result(md().getColumns(null, null, null, null), COLUMNS_COLS);
            Set<String> tables = new HashSet<>();
            for (Map<String, Object> row : r) tables.add(row.get("TABLE_SCHEM") + "." + row.get("TABLE_NAME"));
            for (String t : List.of("public.pods", "public.nodes", "kubepg.clusters", "kubepg.changes")) expect(tables.contains(t), "no columns of " + t);
        });

        check("getPrimaryKeys", () -> {
            List<Map<String, Object>> r = result(md().getPrimaryKeys(null, "public", "pods"), PK_COLS);
            expectEq(col(r, "COLUMN_NAME"), List.of("_cluster", "uid"), "COLUMN_NAME");
            expectEq(((Number) r.get(0).get("KEY_SEQ")).intValue(), 1, "KEY_SEQ");
            expectEq(((Number) r.get(1).get("KEY_SEQ")).intValue(), 2, "KEY_SEQ");
            expect(r.get(0).get("PK_NAME") != null, "PK_NAME null");
        });

        check("getImportedKeys", () -> expectEq(result(md().getImportedKeys(null, "public", "pods"), FK_COLS).size(), 0, "imported keys"));
        check("getExportedKeys", () -> expectEq(result(md().getExportedKeys(null, "public", "pods"), FK_COLS).size(), 0, "exported keys"));
        check("getCrossReference", () -> expectEq(
            result(md().getCrossReference(null, "public", "pods", null, "public", "nodes"), FK_COLS).size(), 0, "cross references"));

        check("getIndexInfo", () -> {
            List<Map<String, Object>> r = result(md().getIndexInfo(null, "public", "pods", false, true), INDEX_COLS);
            List<Object> cols = new ArrayList<>();
            for (Map<String, Object> row : r) {
                if (((Number) row.get("TYPE")).intValue() == DatabaseMetaData.tableIndexStatistic) continue;
                cols.add(row.get("COLUMN_NAME"));
                expectEq(row.get("NON_UNIQUE"), false, "NON_UNIQUE of the primary key index");
            }
            expectEq(cols, List.of("_cluster", "uid"), "index columns");
        });

        check("getIndexInfo(unique)", () -> {
            List<Map<String, Object>> r = result(md().getIndexInfo(null, "public", "nodes", true, true), INDEX_COLS);
            expect(col(r, "COLUMN_NAME").contains("uid"), "unique index columns " + col(r, "COLUMN_NAME"));
        });

        check("getTypeInfo", () -> {
            List<Object> names = col(result(md().getTypeInfo(), TYPEINFO_COLS), "TYPE_NAME");
            for (String t : List.of("text", "int8", "bool", "float8", "timestamptz", "jsonb")) expect(names.contains(t), "no " + t + " in type info");
        });

        check("getFunctions", () -> {
            result(md().getFunctions(null, "public", "%"), FUNCTIONS_COLS);
            List<Map<String, Object>> r = result(md().getFunctions(null, "pg_catalog", "now"), FUNCTIONS_COLS);
            expect(col(r, "FUNCTION_NAME").contains("now"), "pg_catalog.now not found: " + r);
        });

        check("getFunctionColumns", () -> {
            List<Map<String, Object>> r = result(md().getFunctionColumns(null, "pg_catalog", "now", "%"), FUNCTION_COLUMNS_COLS);
            expect(!r.isEmpty(), "no result column of now()");
        });

        check("getProcedures", () -> {
            // On PostgreSQL >= 11 pgjdbc lists only prokind = 'p' (procedures): none here.
            result(md().getProcedures(null, "public", "%"), PROCEDURES_COLS);
            result(md().getProcedures(null, "pg_catalog", "now"), PROCEDURES_COLS);
        });

        check("getProcedureColumns", () -> {
            List<Map<String, Object>> r = result(md().getProcedureColumns(null, "pg_catalog", "now", "%"), PROCEDURE_COLUMNS_COLS);
            expect(!r.isEmpty(), "no column of now()");
        });

        check("getUDTs", () -> {
            // PostgreSQL answers the tables' row types (typtype 'c'); only their schema is asserted.
            for (Map<String, Object> row : result(md().getUDTs(null, "public", "%", null), UDT_COLS)) {
                expectEq(row.get("TYPE_SCHEM"), "public", "TYPE_SCHEM of " + row.get("TYPE_NAME"));
            }
        });
        resultOrUnsupported("getSuperTables", () -> expectEq(result(md().getSuperTables(null, "public", "pods"), SUPERTABLES_COLS).size(), 0, "super tables"));
        resultOrUnsupported("getSuperTypes", () -> expectEq(result(md().getSuperTypes(null, "public", "%"), SUPERTYPES_COLS).size(), 0, "super types"));

        check("getTablePrivileges", () -> {
            List<Map<String, Object>> r = result(md().getTablePrivileges(null, "public", "pods"), TABLE_PRIV_COLS);
            boolean select = false;
            for (Map<String, Object> row : r) select |= user.equals(row.get("GRANTEE")) && "SELECT".equals(row.get("PRIVILEGE"));
            expect(select, "no SELECT for " + user + " in " + r);
        });

        check("getColumnPrivileges", () -> result(md().getColumnPrivileges(null, "public", "pods", "%"), COLUMN_PRIV_COLS));

        check("getBestRowIdentifier", () -> {
            List<Map<String, Object>> r = result(
                md().getBestRowIdentifier(null, "public", "pods", DatabaseMetaData.bestRowSession, true), BEST_ROW_COLS);
            expectEq(new TreeSet<>(col(r, "COLUMN_NAME")), new TreeSet<>(List.of("_cluster", "uid")), "best row identifier");
        });

        check("getVersionColumns", () -> result(md().getVersionColumns(null, "public", "pods"), BEST_ROW_COLS));

        check("getClientInfoProperties", () -> {
            List<Map<String, Object>> r = result(md().getClientInfoProperties(), CLIENT_INFO_COLS);
            expect(col(r, "NAME").contains("ApplicationName"), "client info " + r);
        });

        resultOrUnsupported("getPseudoColumns", () -> expectEq(result(md().getPseudoColumns(null, "public", "pods", "%"), PSEUDO_COLS).size(), 0, "pseudo columns"));
        resultOrUnsupported("getAttributes", () -> expectEq(result(md().getAttributes(null, "public", "%", "%"), ATTRIBUTES_COLS).size(), 0, "attributes"));

        check("ResultSetMetaData(SELECT * FROM pods)", () -> {
            try (Statement st = conn().createStatement(); ResultSet rs = st.executeQuery("SELECT * FROM pods")) {
                ResultSetMetaData m = rs.getMetaData();
                expectEq(m.getColumnCount(), POD_COLUMNS.size(), "getColumnCount");
                Map<String, String> wantType = Map.of("_cluster", "text", "created", "timestamptz", "generation", "int8",
                    "labels", "jsonb", "ready", "bool", "cpu_request", "float8");
                for (int i = 1; i <= m.getColumnCount(); i++) {
                    String name = m.getColumnName(i);
                    expectEq(name, POD_COLUMNS.get(i - 1), "getColumnName(" + i + ")");
                    if (wantType.containsKey(name)) expectEq(m.getColumnTypeName(i), wantType.get(name), "getColumnTypeName of " + name);
                }
            }
        });

        check("PGResultSetMetaData.base_names", () -> {
            try (Statement st = conn().createStatement(); ResultSet rs = st.executeQuery("SELECT * FROM pods")) {
                ResultSetMetaData m = rs.getMetaData();
                org.postgresql.PGResultSetMetaData pm = m.unwrap(org.postgresql.PGResultSetMetaData.class);
                for (int i = 1; i <= m.getColumnCount(); i++) {
                    expectEq(m.getTableName(i), "pods", "getTableName(" + i + ")");
                    expectEq(pm.getBaseTableName(i), "pods", "getBaseTableName(" + i + ")");
                    expectEq(pm.getBaseSchemaName(i), "public", "getBaseSchemaName(" + i + ")");
                    expectEq(pm.getBaseColumnName(i), POD_COLUMNS.get(i - 1), "getBaseColumnName(" + i + ")");
                    expectEq(m.getSchemaName(i), "", "getSchemaName (pgjdbc answers \"\")");
                    expectEq(m.isAutoIncrement(i), false, "isAutoIncrement(" + i + ")");
                }
                expectEq(m.isNullable(4), ResultSetMetaData.columnNoNulls, "isNullable(uid)");
                expectEq(m.isNullable(2), ResultSetMetaData.columnNullable, "isNullable(name)");
            }
        });

        check("ResultSetMetaData(expression)", () -> {
            try (Statement st = conn().createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) AS n, max(created) AS latest FROM pods")) {
                ResultSetMetaData m = rs.getMetaData();
                expectEq(m.getColumnTypeName(1), "int8", "count(*) type");
                expectEq(m.getColumnTypeName(2), "timestamptz", "max(created) type");
                expectEq(m.getTableName(1), "", "getTableName of an expression");
                rs.next();
                expectEq(rs.getLong(1), 4L, "count");
            }
        });

        check("PreparedStatement.types", () -> {
            try (PreparedStatement ps = conn().prepareStatement(
                    "SELECT name, created, labels, restarts, ready, cpu_request FROM pods WHERE created >= ? AND namespace = ? ORDER BY name")) {
                ps.setObject(1, OffsetDateTime.of(2024, 1, 1, 0, 0, 0, 0, ZoneOffset.UTC));
                ps.setString(2, "shop");
                List<String> names = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        names.add(rs.getString(1));
                        if (names.size() == 1) {
                            expectEq(rs.getObject(2, OffsetDateTime.class).toInstant(),
                                OffsetDateTime.of(2024, 1, 1, 0, 0, 0, 0, ZoneOffset.UTC).toInstant(), "created");
                            Object labels = rs.getObject(3);
                            expect(labels instanceof org.postgresql.util.PGobject && "jsonb".equals(((org.postgresql.util.PGobject) labels).getType()),
                                "labels " + labels);
                            expectEq(rs.getLong(4), 0L, "restarts");
                            expectEq(rs.getBoolean(5), true, "ready");
                            expectEq(rs.getDouble(6), 0.1, "cpu_request");
                        }
                    }
                }
                expectEq(names, List.of("web-0", "web-1"), "rows");
            }
        });

        if (conn != null) conn.close();
        System.out.println(CLIENT + ": " + passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
