"""The Postgres backend's pure half: SQL for the backend values, bulk COPY, and psycopg errors.

Shared by the blocking and the asyncio Postgres backends, one module per idea: :mod:`.compile` (the SQL
compiler), :mod:`.copy` (bulk insert through a stage table), :mod:`.dumpers` (binary COPY dumpers) and
:mod:`.errors` (psycopg errors as the SDK's). The names below are what the backends import.
"""

from .compile import (
    SCHEMA,
    SET_IDENTITY,
    adapt_value,
    as_list,
    columns_sql,
    compile_count,
    compile_delete,
    compile_insert,
    compile_rpc,
    compile_select,
    compile_select_ids,
    compile_update,
    identity_params,
    json_dumps,
    rows_by_id,
    table_sql,
    where_clause,
)
from .copy import (
    TABLE_TYPES,
    compile_copy_stage,
    compile_insert_from_stage,
    compile_stage,
    group_by_columns,
    stage_name,
)
from .dumpers import (
    BULK_DUMPERS,
    BinaryVector,
    BinaryVectorDumper,
    jsonb_binary_dumper,
    text_array_binary_dumper,
    vector_binary_dumper,
)
from .errors import map_error

__all__ = [
    "BULK_DUMPERS",
    "SCHEMA",
    "SET_IDENTITY",
    "TABLE_TYPES",
    "BinaryVector",
    "BinaryVectorDumper",
    "adapt_value",
    "as_list",
    "columns_sql",
    "compile_copy_stage",
    "compile_count",
    "compile_delete",
    "compile_insert",
    "compile_insert_from_stage",
    "compile_rpc",
    "compile_select",
    "compile_select_ids",
    "compile_stage",
    "compile_update",
    "group_by_columns",
    "identity_params",
    "json_dumps",
    "jsonb_binary_dumper",
    "map_error",
    "rows_by_id",
    "stage_name",
    "table_sql",
    "text_array_binary_dumper",
    "vector_binary_dumper",
    "where_clause",
]
