package store

import (
	"context"
	"fmt"
)

// ResetToVersion drops vmx's tables and creates them as a database at
// version made them: the first schema and the first version upgrades. A
// test then opens a database as old as one in use and sees each later
// upgrade run once.
func (s *Store) ResetToVersion(ctx context.Context, version int) error {
	list := `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'vmx\_%' ESCAPE '\'`
	drop := `DROP TABLE %s`
	if s.dialect == postgres {
		list = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'vmx\_%'`
		drop = `DROP TABLE %s CASCADE`
	}
	rows, err := s.q().query(ctx, list)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// The tables are empty: SQLite's foreign keys do not mind the order.
	for _, t := range tables {
		if _, err := s.q().exec(ctx, fmt.Sprintf(drop, t)); err != nil {
			return err
		}
	}
	for _, stmt := range append(schema(s.dialect), upgrades[:version]...) {
		if _, err := s.q().exec(ctx, stmt); err != nil {
			return err
		}
	}
	_, err = s.q().exec(ctx, `INSERT INTO vmx_schema (id, version) VALUES (1, ?)`, version)
	return err
}
