"""A throwaway PostgreSQL server for the journal's PostgreSQL path.

Uses Debian's ``postgresql`` package binaries (``/usr/lib/postgresql/<version>/bin``): ``initdb``
a cluster in a temporary folder, ``pg_ctl start`` it on a free port listening on a Unix socket
only, trust authentication. PostgreSQL refuses to run as root, so under root the server runs as
the ``postgres`` user the package creates. Skips (with the reason) when no server binaries exist;
`.ci/run` installs the package when it can.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import free_port


def _bin_dir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@pytest.fixture(scope="session")
def postgres_server():
    """SQLAlchemy URL (``postgresql+psycopg``) of a running throwaway server; stopped afterwards."""
    pytest.importorskip("psycopg", reason="the journal's PostgreSQL driver: pip install '.[postgres]'")
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (Debian package postgresql) on this machine")
    run_as = []
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to run the server as")
        run_as = ["runuser", "-u", "postgres", "--"]
    base = tempfile.mkdtemp(prefix="macrostrike-pg-")
    data, sock = os.path.join(base, "data"), base
    if run_as:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    port = free_port()
    subprocess.run([*run_as, f"{bin_dir}/initdb", "-D", data, "-U", "keeper", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run([*run_as, f"{bin_dir}/pg_ctl", "-D", data, "-w", "-l", os.path.join(base, "log"), "-o",
                    f"-p {port} -k {sock} -c listen_addresses=''", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://keeper@/postgres?host={sock}&port={port}"
    finally:
        subprocess.run([*run_as, f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def fresh_database(server_url: str, name: str) -> str:
    """Create (again, if it exists) database ``name`` on the ``postgres_server`` at ``server_url``;
    returns its SQLAlchemy URL."""
    from sqlalchemy import create_engine, text

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return server_url.replace("/postgres?", f"/{name}?")
