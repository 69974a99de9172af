// DBeaver's PostgreSQL navigator against a PostgreSQL endpoint, replayed through pgjdbc (the
// driver DBeaver uses) without running DBeaver: the SQL each navigator node's cache sends, as
// DBeaver builds it for a PostgreSQL >= 12 server with default settings, and a check that every
// result column DBeaver then reads by name (JDBCUtils.safeGet*(rs, "col")) exists.
//
// Source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/
//   model/PostgreDataSource.java   initialize (SELECT version(), PostgreUtils.isMetaObjectExists probes),
//                                  prepareReadDatabaseListStatement, SettingCache, collectObjectStatistics
//   model/PostgreExecutionContext.java  refreshDefaults (current_schema(),session_user; SHOW search_path)
//   model/PostgreDatabase.java     readDatabaseInfo, getDescription, cacheDataTypes, RoleCache,
//                                  AccessMethodCache, EncodingCache, CollationCache, LanguageCache,
//                                  ForeignDataWrapperCache, ForeignServerCache, TablespaceCache,
//                                  AvailableExtensionCache, EventTriggersCache, ExtensionCache,
//                                  SchemaCache, EnumValueCache
//   model/PostgreSchema.java       readSchemaInfo, TableCache (prepareLookupStatement,
//                                  prepareChildrenStatement = columns), ConstraintCache, IndexCache,
//                                  ProceduresCache, cacheTableInheritance, readDefaultPrivileges,
//                                  collectObjectStatistics
//   model/PostgreTableReal.java    readTableStatistics, TriggerCache, RuleCache
//   model/PostgreTable.java        PolicyCache (pg_policies)
//   model/PostgreRole.java         members cache (pg_auth_members), loadExtraConfigParameters
//   The columns asserted per query are the ones the matching model class reads
//   (PostgreDatabase, PostgreSchema, PostgreTableBase/Real/PostgreTable, PostgreAttribute,
//   PostgreTableConstraintBase, PostgreIndex, PostgreRole, PostgreTablespace, PostgreExtension,
//   PostgreDataType, PostgreProcedure, PostgreSetting, ...) that PostgreSQL 15 has.
//
//   java -cp /usr/share/java/postgresql.jar DbeaverCheck.java [DSN]
// DSN: postgresql://user:password@host:port/dbname[?params], or COMPAT_DSN, or
// --host/--port/--dbname/--user/--password. Prints `ok NAME` / `FAIL NAME: why` per check and
// `dbeaver: N passed, N failed`; exits 1 on any failure.

import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.sql.*;
import java.util.*;

public class DbeaverCheck {
    static final String CLIENT = "dbeaver";
    static int passed, failed;
    static String url, user, password, dbname;
    static Connection conn;

    interface Body { void run() throws Exception; }
    interface RowsCheck { void check(List<Map<String, Object>> rows) throws Exception; }
    interface Params { Object[] get() throws Exception; }

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

    static Connection conn() throws SQLException {
        if (conn == null || conn.isClosed() || !conn.isValid(5)) {
            Properties p = new Properties();
            p.setProperty("user", user);
            p.setProperty("password", password);
            p.setProperty("ApplicationName", "DBeaver 24.2 - Metadata <kubepg compat>");
            conn = DriverManager.getConnection(url, p);
        }
        return conn;
    }

    static List<Map<String, Object>> query(String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = conn().prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) ps.setObject(i + 1, params[i]);
            try (ResultSet rs = ps.executeQuery()) {
                ResultSetMetaData m = rs.getMetaData();
                List<String> cols = new ArrayList<>();
                for (int i = 1; i <= m.getColumnCount(); i++) cols.add(m.getColumnLabel(i));
                lastLabels = cols;
                List<Map<String, Object>> out = new ArrayList<>();
                while (rs.next()) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    for (int i = 0; i < cols.size(); i++) row.put(cols.get(i), rs.getObject(i + 1));
                    out.add(row);
                }
                return out;
            }
        }
    }

    static List<String> lastLabels = List.of();

    /** One navigator query: runs it, requires the columns DBeaver reads, then checks its rows. */
    static void nav(String name, String sql, Params params, String requiredCols, RowsCheck rowsCheck) {
        check(name, () -> {
            List<Map<String, Object>> rows = query(sql, params == null ? new Object[0] : params.get());
            List<String> missing = new ArrayList<>();
            if (!requiredCols.isBlank()) {
                for (String c : requiredCols.split(",")) if (!lastLabels.contains(c.trim())) missing.add(c.trim());
            }
            expect(missing.isEmpty(), "result lacks columns DBeaver reads: " + missing + " (has " + lastLabels + ")");
            if (rowsCheck != null) rowsCheck.check(rows);
        });
    }

    static List<Object> col(List<Map<String, Object>> rows, String name) {
        List<Object> out = new ArrayList<>();
        for (Map<String, Object> r : rows) out.add(r.get(name));
        return out;
    }

    /** PostgreSchema.readSchemaInfo: DBeaver's own lookup of a schema's oid. */
    static long schemaOid(String schema) throws SQLException {
        List<Map<String, Object>> r = query("SELECT s.oid as schema_id\nfrom pg_catalog.pg_namespace s\nWHERE s.nspname =?", schema);
        expect(r.size() == 1, "schema " + schema + " not found by readSchemaInfo");
        return ((Number) r.get(0).get("schema_id")).longValue();
    }

    /** TableCache.prepareLookupStatement with objectName: DBeaver's lookup of one relation. */
    static long tableOid(String schema, String table) throws SQLException {
        List<Map<String, Object>> r = query(TABLES_SQL + " AND relname=?", schemaOid(schema), table);
        expect(r.size() == 1, "table " + schema + "." + table + " not found by TableCache lookup");
        return ((Number) r.get(0).get("oid")).longValue();
    }

    static long roleOid(String role) throws SQLException {
        List<Map<String, Object>> r = query(ROLES_SQL);
        for (Map<String, Object> row : r) if (role.equals(row.get("rolname"))) return ((Number) row.get("oid")).longValue();
        throw new AssertionError("role " + role + " not in RoleCache");
    }

    static long databaseOid() throws SQLException {
        List<Map<String, Object>> r = query("SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname=?", dbname);
        expect(r.size() == 1, "database " + dbname + " not found");
        return ((Number) r.get(0).get("oid")).longValue();
    }

    static final List<String> POD_COLUMNS = List.of(
        "_cluster", "name", "namespace", "uid", "api_version", "kind", "created", "resource_version",
        "generation", "labels", "annotations", "owner_references", "finalizers", "deleted",
        "phase", "node_name", "pod_ip", "host_ip", "qos_class", "ready", "restarts", "containers",
        "cpu_request", "memory_request", "cpu_limit", "memory_limit", "start_time", "service_account",
        "restart_policy", "images", "spec", "status");
    static final Set<String> RESOURCE_TABLES = Set.of("pods", "deployments", "nodes", "configmaps");

    // PostgreSchema.TableCache.prepareLookupStatement (server >= 10)
    static final String TABLES_SQL = "SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key \n"
        + "FROM pg_catalog.pg_class c\n"
        + "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass\n"
        + "WHERE c.relnamespace=? AND c.relkind not in ('i','I','c')";
    // PostgreSchema.TableCache.prepareChildrenStatement (supportsSequences)
    static final String COLUMNS_SQL = "SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid"
        + "\nFROM pg_catalog.pg_attribute a"
        + "\nINNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)"
        + "\nLEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)"
        + "\nLEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)"
        + "\nLEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid"
        + "\nWHERE NOT a.attisdropped AND c.relkind not in ('i','I','c')";
    // PostgreDatabase.RoleCache (supportsCommentsOnRole)
    static final String ROLES_SQL = "SELECT a.oid,a.*,pd.description FROM pg_catalog.pg_roles a \nleft join pg_catalog.pg_shdescription pd on a.oid = pd.objoid\nORDER BY a.rolname";

    static final String DATABASE_COLS = "oid,datname,datdba,encoding,datallowconn,datconnlimit,datistemplate,dattablespace,datcollate,datctype";
    static final String TABLE_COLS = "oid,relname,relkind,relnamespace,relowner,relacl,reloptions,relpersistence,reltuples,"
        + "relispartition,relrowsecurity,reltablespace,relhassubclass,description,partition_expr,partition_key";
    static final String ATTR_COLS = "relname,attrelid,attname,atttypid,attnum,attnotnull,atttypmod,attndims,attacl,attcollation,"
        + "attfdwoptions,attgenerated,attidentity,attinhcount,attislocal,def_value,description,objid";

    public static void main(String[] args) throws Exception {
        parseTarget(args);

        // ---- connect: PostgreDataSource.initialize / readDatabaseServerVersion / context defaults ----
        nav("server_version", "SELECT version()", null, "", rows -> {
            String v = String.valueOf(rows.get(0).values().iterator().next());
            expect(v.startsWith("PostgreSQL "), "version() " + v);
        });
        check("jdbc.readDatabaseServerVersion", () -> {
            DatabaseMetaData m = conn().getMetaData();
            expect(m.getDatabaseMajorVersion() >= 9, "major " + m.getDatabaseMajorVersion());
            expectEq(m.getDatabaseProductName(), "PostgreSQL", "product");
        });
        nav("isMetaObjectExists(pg_enum)", "SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1", null, "enumtypid,enumsortorder,enumlabel", null);
        nav("isMetaObjectExists(pg_class.reltype)", "SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1", null, "reltype", null);
        nav("current_database", "SELECT current_database()", null, "", rows -> expectEq(rows.get(0).values().iterator().next(), dbname, "current_database()"));
        nav("database_info", "SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname=?", () -> new Object[] {dbname}, DATABASE_COLS,
            rows -> expectEq(rows.size(), 1, "rows"));
        nav("database_list", "SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE 1 = 1 AND datallowconn AND NOT datistemplate OR db.datname =?\nORDER BY db.datname",
            () -> new Object[] {dbname}, DATABASE_COLS, rows -> expect(col(rows, "datname").contains(dbname), "databases " + col(rows, "datname")));
        nav("template_databases", "SELECT db.datname FROM pg_catalog.pg_database db WHERE datistemplate", null, "datname", null);
        nav("database_description", "select description from pg_shdescription join pg_database on objoid = pg_database.oid where datname = ?",
            () -> new Object[] {dbname}, "description", null);
        nav("context_defaults", "SELECT current_schema(),session_user", null, "current_schema,session_user", rows -> {
            expectEq(rows.get(0).get("session_user"), user, "session_user");
            expect(rows.get(0).get("current_schema") != null, "current_schema() is null");
        });
        nav("search_path", "SHOW search_path", null, "search_path", rows -> expect(String.valueOf(rows.get(0).get("search_path")).contains("public"), "search_path " + rows));
        nav("settings", "select * from pg_catalog.pg_settings", null, "name,setting,short_desc,unit",
            rows -> expect(col(rows, "name").contains("standard_conforming_strings"), "no standard_conforming_strings setting"));
        nav("setting_lookup", "select * from pg_catalog.pg_settings where name=?", () -> new Object[] {"standard_conforming_strings"}, "name,setting",
            rows -> expectEq(col(rows, "setting"), List.of("on"), "standard_conforming_strings"));

        // ---- database-level caches (PostgreDatabase) ----
        nav("data_types", "SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description"
                + "\nFROM pg_catalog.pg_type t"
                + "\nLEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem "
                + "\nLEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid"
                + "\nLEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid"
                + "\nWHERE t.typname IS NOT NULL"
                + "\nAND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')", null,
            "oid,typname,typnamespace,typowner,typlen,typbyval,typtype,typcategory,typispreferred,typdelim,typrelid,typelem,typarray,"
                + "typinput,typoutput,typreceive,typsend,typmodin,typmodout,typanalyze,typalign,typstorage,typnotnull,typbasetype,"
                + "typtypmod,typndims,typcollation,typdefault,relkind,base_type_name,description",
            rows -> {
                List<Object> names = col(rows, "typname");
                for (String t : List.of("text", "int8", "bool", "float8", "timestamptz", "jsonb")) expect(names.contains(t), "no type " + t);
            });
        nav("schemas", "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n\n"
                + "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass\n"
                + " ORDER BY nspname", null, "oid,nspname,nspowner,nspacl,description",
            rows -> {
                List<Object> names = col(rows, "nspname");
                expect(names.contains("public") && names.contains("kubepg") && names.contains("pg_catalog"), "schemas " + names);
            });
        nav("roles", ROLES_SQL, null, "oid,rolname,rolsuper,rolinherit,rolcreaterole,rolcreatedb,rolcanlogin,rolreplication,"
            + "rolbypassrls,rolconnlimit,rolvaliduntil,rolpassword,description", rows -> expect(col(rows, "rolname").contains(user), "roles " + col(rows, "rolname")));
        nav("role_members", "SELECT * FROM pg_catalog.pg_auth_members WHERE member=?", () -> new Object[] {roleOid(user)}, "roleid,member,grantor,admin_option", null);
        nav("role_config", "select s.setconfig, pd.datname from pg_catalog.pg_db_role_setting s\nleft join pg_catalog.pg_database pd on s.setdatabase = pd.oid\nwhere s.setrole = ?",
            () -> new Object[] {roleOid(user)}, "setconfig,datname", null);
        nav("access_methods", "SELECT am.oid,am.* FROM pg_catalog.pg_am am \nORDER BY am.oid", null, "oid,amname,amhandler,amtype",
            rows -> expect(col(rows, "amname").contains("btree"), "no btree access method"));
        nav("encodings", "SELECT c.contoencoding as encid,pg_catalog.pg_encoding_to_char(c.contoencoding) as encname\nFROM pg_catalog.pg_conversion c\nGROUP BY c.contoencoding\nORDER BY 2\n",
            null, "encid,encname", null);
        nav("collations", "SELECT c.oid,c.* FROM pg_catalog.pg_collation c \nORDER BY c.oid", null,
            "oid,collname,collnamespace,collowner,collprovider,collencoding,collcollate,collctype", rows -> expect(col(rows, "collname").contains("default"), "no default collation"));
        nav("languages", "SELECT l.oid,l.* FROM pg_catalog.pg_language l \nORDER BY l.oid", null,
            "oid,lanname,lanowner,lanispl,lanpltrusted,lanplcallfoid,laninline,lanvalidator", rows -> expect(col(rows, "lanname").contains("sql"), "no sql language"));
        nav("foreign_data_wrappers", "SELECT l.oid,l.*,p.pronamespace as handler_schema_id \nFROM pg_catalog.pg_foreign_data_wrapper l\nLEFT OUTER JOIN pg_catalog.pg_proc p ON p.oid=l.fdwhandler \nORDER BY l.fdwname",
            null, "oid,fdwname,handler_schema_id", null);
        nav("foreign_servers", "SELECT l.oid,l.* FROM pg_catalog.pg_foreign_server l\nORDER BY l.srvname", null, "oid,srvname", null);
        nav("tablespaces", "SELECT t.oid,t.*,pg_tablespace_location(t.oid) loc\nFROM pg_catalog.pg_tablespace t \nORDER BY t.oid", null,
            "oid,spcname,spcowner,spcoptions,loc", rows -> expect(col(rows, "spcname").contains("pg_default"), "no pg_default tablespace"));
        nav("available_extensions", "SELECT name,default_version,installed_version,comment FROM pg_catalog.pg_available_extensions ORDER BY name", null,
            "name,default_version,installed_version,comment", null);
        nav("event_triggers", "SELECT pet.*, d.description FROM pg_catalog.pg_event_trigger pet\nLEFT OUTER JOIN pg_catalog.pg_description d ON pet.\"oid\" = d.objoid",
            null, "evtname,description", null);
        nav("extensions", "SELECT \n e.oid,\n cfg.tbls,\n  n.nspname as schema_name,\n e.* \nFROM \n pg_catalog.pg_extension e \n join pg_namespace n on n.oid =e.extnamespace\n"
                + " left join  (\n         select\n            ARRAY_AGG(ns.nspname || '.' ||  cls.relname) tbls, oid_ext\n          from\n            (\n            select\n"
                + "                unnest(e1.extconfig) oid , e1.oid oid_ext\n            from\n                pg_catalog.pg_extension e1 ) c \n"
                + "                join    pg_class cls on cls.oid = c.oid \n                join pg_namespace ns on ns.oid = cls.relnamespace\n"
                + "            group by oid_ext        \n         ) cfg on cfg.oid_ext = e.oid\nORDER BY e.oid",
            null, "oid,tbls,schema_name,extname,extversion,extrelocatable,extcondition", null);
        nav("enum_values", "SELECT * FROM pg_catalog.pg_enum", null, "enumtypid,enumsortorder,enumlabel", null);
        nav("database_size", "SELECT db.datname,pg_database_size(db.oid) FROM pg_catalog.pg_database db WHERE db.oid=?", () -> new Object[] {databaseOid()},
            "datname,pg_database_size", rows -> expectEq(rows.size(), 1, "rows"));

        // ---- schema-level caches (PostgreSchema) ----
        nav("schema_info", "SELECT s.oid as schema_id\nfrom pg_catalog.pg_namespace s\nWHERE s.nspname =?", () -> new Object[] {"public"}, "schema_id",
            rows -> expectEq(rows.size(), 1, "rows"));
        nav("tables.public", TABLES_SQL, () -> new Object[] {schemaOid("public")}, TABLE_COLS, rows -> {
            Map<Object, Object> kinds = new HashMap<>();
            for (Map<String, Object> r : rows) kinds.put(r.get("relname"), r.get("relkind"));
            for (String t : RESOURCE_TABLES) expectEq(String.valueOf(kinds.get(t)), "r", "relkind of " + t);
        });
        nav("tables.kubepg", TABLES_SQL, () -> new Object[] {schemaOid("kubepg")}, TABLE_COLS, rows -> {
            Map<Object, Object> kinds = new HashMap<>();
            for (Map<String, Object> r : rows) kinds.put(r.get("relname"), String.valueOf(r.get("relkind")));
            expectEq(kinds, Map.of("clusters", "r", "resources", "r", "tables", "v", "changes", "v"), "kubepg relations");
        });
        nav("table_lookup", TABLES_SQL + " AND relname=?", () -> new Object[] {schemaOid("public"), "pods"}, TABLE_COLS, rows -> {
            expectEq(rows.size(), 1, "rows");
            expectEq(rows.get(0).get("relispartition"), false, "relispartition");
        });
        nav("columns.pods", COLUMNS_SQL + " AND c.oid=?\nORDER BY a.attnum", () -> new Object[] {tableOid("public", "pods")}, ATTR_COLS, rows -> {
            List<Object> names = new ArrayList<>();
            Map<Object, Object> notnull = new HashMap<>();
            for (Map<String, Object> r : rows) {
                if (((Number) r.get("attnum")).intValue() > 0) { // system columns (attnum < 0) are skipped by DBeaver
                    names.add(r.get("attname"));
                    notnull.put(r.get("attname"), r.get("attnotnull"));
                }
            }
            expectEq(names, POD_COLUMNS, "attributes with attnum > 0");
            expectEq(notnull.get("uid"), true, "attnotnull of uid");
            expectEq(notnull.get("name"), false, "attnotnull of name");
        });
        nav("columns.schema", COLUMNS_SQL + " AND c.relnamespace=?\nORDER BY a.attnum", () -> new Object[] {schemaOid("public")}, ATTR_COLS, rows -> {
            Set<Object> tables = new HashSet<>(col(rows, "relname"));
            expect(tables.containsAll(RESOURCE_TABLES), "columns of " + tables);
        });
        nav("constraints.pods", "SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then \"substring\"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy"
                + "\nFROM pg_catalog.pg_constraint c"
                + "\nINNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid"
                + "\nLEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid"
                + "\nLEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass"
                + "\nWHERE c.conrelid=?\nORDER BY c.oid", () -> new Object[] {tableOid("public", "pods")},
            "oid,conname,contype,conkey,confkey,condeferrable,condeferred,conindid,conislocal,tabrelname,refnamespace,description,consrc_copy",
            rows -> {
                List<Map<String, Object>> pk = new ArrayList<>();
                for (Map<String, Object> r : rows) if ("p".equals(String.valueOf(r.get("contype")))) pk.add(r);
                expectEq(pk.size(), 1, "primary key constraints");
                Array keys = (Array) pk.get(0).get("conkey");
                expectEq(Arrays.toString((Object[]) keys.getArray()), "[1, 4]", "conkey (attnums of _cluster, uid)");
                for (Map<String, Object> r : rows) expect(!"f".equals(String.valueOf(r.get("contype"))), "foreign key on pods");
            });
        nav("constraints.schema", "SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then \"substring\"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy"
                + "\nFROM pg_catalog.pg_constraint c"
                + "\nINNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid"
                + "\nLEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid"
                + "\nLEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass"
                + "\nWHERE t.relnamespace=?\nORDER BY c.oid", () -> new Object[] {schemaOid("public")}, "oid,conname,contype,conkey,tabrelname",
            rows -> {
                Set<Object> tables = new HashSet<>();
                for (Map<String, Object> r : rows) if ("p".equals(String.valueOf(r.get("contype")))) tables.add(r.get("tabrelname"));
                expect(tables.containsAll(RESOURCE_TABLES), "primary keys of " + tables);
            });
        nav("indexes.pods", "SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description"
                + ",pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr"
                + ",pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans"
                + "\nFROM pg_catalog.pg_index i\nINNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid\nINNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid"
                + "\nLEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid\nWHERE  i.indrelid=? ORDER BY c.relname",
            () -> new Object[] {tableOid("public", "pods")},
            "indexrelid,relname,relnamespace,relam,reltablespace,tabrelname,keys,indclass,indoption,indisunique,indisprimary,indisexclusion,"
                + "indimmediate,indisclustered,indisvalid,indcheckxmin,indisready,description,pred_expr,expr,index_rel_size,index_num_scans",
            rows -> {
                expectEq(rows.size(), 1, "indexes of pods");
                expectEq(rows.get(0).get("indisprimary"), true, "indisprimary");
                expectEq(rows.get(0).get("indisunique"), true, "indisunique");
                expectEq(String.valueOf(rows.get(0).get("keys")), "1 4", "keys (int2vector of attnums)");
            });
        nav("procedures.public", "SELECT p.oid as poid,p.*,pg_catalog.pg_get_expr(p.proargdefaults, 0) as arg_defaults,d.description\n"
                + "FROM pg_catalog.pg_proc p\nLEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=p.oid and d.classoid='pg_proc'::regclass  AND d.objsubid = 0"
                + "\nWHERE p.pronamespace=?\nORDER BY p.proname", () -> new Object[] {schemaOid("public")},
            "poid,proname,proowner,prolang,procost,prorows,provariadic,prokind,prosecdef,proleakproof,proisstrict,proretset,provolatile,"
                + "prorettype,proargtypes,proallargtypes,proargmodes,proargnames,prosrc,proconfig,proacl,arg_defaults,description", null);
        nav("procedures.pg_catalog", "SELECT p.oid as poid,p.*,pg_catalog.pg_get_expr(p.proargdefaults, 0) as arg_defaults,d.description\n"
                + "FROM pg_catalog.pg_proc p\nLEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=p.oid and d.classoid='pg_proc'::regclass  AND d.objsubid = 0"
                + "\nWHERE p.pronamespace=?\nORDER BY p.proname", () -> new Object[] {schemaOid("pg_catalog")}, "poid,proname,prokind,prorettype,proargtypes",
            rows -> expect(col(rows, "proname").contains("now"), "pg_catalog.now not listed"));
        nav("aggregates", "SELECT p.oid AS proc_oid,p.proname AS proc_name,a.*\nFROM pg_catalog.pg_aggregate a,pg_catalog.pg_proc p\nWHERE p.oid=a.aggfnoid AND p.pronamespace=?\nORDER BY p.proname",
            () -> new Object[] {schemaOid("public")}, "proc_oid,proc_name,aggfnoid", null);
        nav("table_inheritance", "SELECT i.inhrelid relid, pc.relnamespace parent_ns, pc.oid parent_oid, i.inhseqno\nFROM pg_catalog.pg_inherits i, pg_class rc, pg_class pc\n"
            + "WHERE rc.oid=i.inhrelid AND rc.relnamespace=? AND pc.oid=i.inhparent", () -> new Object[] {schemaOid("public")}, "relid,parent_ns,parent_oid,inhseqno",
            rows -> expectEq(rows.size(), 0, "inheritance rows"));
        nav("default_privileges", "SELECT * FROM pg_default_acl WHERE defaclnamespace = ?", () -> new Object[] {schemaOid("public")}, "defaclacl,defaclobjtype", null);
        nav("schema_statistics", "select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size\nFROM pg_class c\nWHERE c.relnamespace=?",
            () -> new Object[] {schemaOid("public")}, "oid,total_rel_size,rel_size", rows -> expect(rows.size() >= RESOURCE_TABLES.size(), "rows " + rows.size()));

        // ---- table-level (PostgreTableReal / PostgreTable) ----
        nav("table_statistics", "select pg_catalog.pg_total_relation_size(?) as total_rel_size,pg_catalog.pg_relation_size(?) as rel_size",
            () -> { long t = tableOid("public", "pods"); return new Object[] {t, t}; }, "total_rel_size,rel_size", rows -> expectEq(rows.size(), 1, "rows"));
        nav("triggers", "SELECT x.oid,x.*,p.pronamespace as func_schema_id,d.description\nFROM pg_catalog.pg_trigger x\nLEFT OUTER JOIN pg_catalog.pg_proc p ON p.oid=x.tgfoid "
            + "\nLEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=x.oid AND d.objsubid=0 \nWHERE x.tgrelid = ? AND NOT x.tgisinternal",
            () -> new Object[] {tableOid("public", "pods")}, "oid,tgname,func_schema_id,description", rows -> expectEq(rows.size(), 0, "triggers"));
        check("rules", () -> {
            long t = tableOid("public", "pods");
            List<Map<String, Object>> rows = query("SELECT r.oid,r.*, pg_get_ruledef(r.oid) AS definition\nFROM pg_rewrite r\nWHERE r.ev_class=" + t + " AND r.rulename <> '_RETURN'::name");
            expect(lastLabels.containsAll(List.of("oid", "rulename", "definition")), "columns " + lastLabels);
            expectEq(rows.size(), 0, "rules");
        });
        nav("policies", "select * from pg_catalog.pg_policies where schemaname=? and tablename=?", () -> new Object[] {"public", "pods"},
            "policyname,permissive,roles,cmd,qual,with_check", rows -> expectEq(rows.size(), 0, "policies"));
        nav("referencing_constraints", "SELECT DISTINCT connamespace FROM pg_catalog.pg_constraint WHERE confrelid=?", () -> new Object[] {tableOid("public", "pods")},
            "connamespace", rows -> expectEq(rows.size(), 0, "referencing constraints"));

        // ---- the data editor: rows and row count of the table ----
        check("data.select", () -> {
            try (Statement st = conn().createStatement()) {
                st.setMaxRows(200);
                try (ResultSet rs = st.executeQuery("SELECT * FROM public.pods\nLIMIT 200")) {
                    ResultSetMetaData m = rs.getMetaData();
                    org.postgresql.PGResultSetMetaData pm = m.unwrap(org.postgresql.PGResultSetMetaData.class);
                    expectEq(m.getColumnCount(), POD_COLUMNS.size(), "columns");
                    // supportsEntityMetadataInResults: DBeaver binds result columns to the table by these
                    expectEq(pm.getBaseTableName(1), "pods", "getBaseTableName");
                    expectEq(pm.getBaseSchemaName(1), "public", "getBaseSchemaName");
                    int n = 0;
                    while (rs.next()) n++;
                    expectEq(n, 4, "rows");
                }
            }
        });
        nav("data.count", "SELECT COUNT(*) FROM public.pods", null, "count", rows -> expectEq(((Number) rows.get(0).get("count")).longValue(), 4L, "count"));

        if (conn != null) conn.close();
        System.out.println(CLIENT + ": " + passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
