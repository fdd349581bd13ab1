// The server's version and edition (run against the system database).
CALL dbms.components() YIELD versions, edition
RETURN versions[0] AS version, edition
