"""pg_ping on a real PostgreSQL 15 cluster: a working login is proven, a bad one fails clearly."""
from ansible_collections.genesys_dr.framework.plugins.modules import pg_ping

APP_ROLE = 'genesys_ping_app'
APP_PASSWORD = 'ping-app-p4ss'


def test_login_is_proven_and_read_back(module_runner, pg_pair):
    cluster = pg_pair[0]
    cluster.ensure_running()
    result = module_runner(pg_ping, dict(cluster.login_args('postgres'), require_superuser=True))
    assert not result['failed'], result
    assert result['changed'] is False
    assert result['database'] == 'postgres' and result['superuser'] is True and result['in_recovery'] is False
    assert result['server_version'] == cluster.sql('postgres', "SELECT current_setting('server_version_num')::int")[0][0]


def test_wrong_password_fails_without_showing_it(module_runner, pg_pair):
    cluster = pg_pair[0]
    cluster.ensure_running()
    wrong = 'not-the-Passw0rd'
    result = module_runner(pg_ping, dict(cluster.login_args('postgres'), login_password=wrong))
    assert result['failed']
    assert 'authentication to PostgreSQL at' in result['msg'] and 'was refused' in result['msg']
    assert wrong not in str(result)


def test_missing_database_and_non_superuser_are_refused(module_runner, pg_pair):
    cluster = pg_pair[0]
    cluster.ensure_running()
    missing = module_runner(pg_ping, cluster.login_args('no_such_db'))
    assert missing['failed'] and 'does not exist' in missing['msg']
    cluster.sql('postgres', "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN "
                            "CREATE ROLE %s LOGIN PASSWORD '%s'; END IF; END $$" % (APP_ROLE, APP_ROLE, APP_PASSWORD))
    args = dict(cluster.login_args('postgres'), login_user=APP_ROLE, login_password=APP_PASSWORD)
    plain = module_runner(pg_ping, args)
    assert not plain['failed'] and plain['user'] == APP_ROLE and plain['superuser'] is False
    refused = module_runner(pg_ping, dict(args, require_superuser=True))
    assert refused['failed'] and 'is not a superuser' in refused['msg']


def test_every_listed_database_is_proven_in_one_run(module_runner, pg_pair):
    cluster = pg_pair[0]
    cluster.ensure_running()
    if not cluster.sql('postgres', "SELECT 1 FROM pg_database WHERE datname = 'ping_second'"):
        cluster.sql('postgres', 'CREATE DATABASE ping_second')
    args = cluster.login_args('postgres')
    del args['login_db']
    result = module_runner(pg_ping, dict(args, databases=['postgres', 'ping_second'], require_superuser=True))
    assert not result['failed'], result
    assert [c['database'] for c in result['checked']] == ['postgres', 'ping_second']
    assert result['database'] == 'postgres' and all(c['superuser'] for c in result['checked'])


def test_the_first_database_that_refuses_is_named(module_runner, pg_pair):
    cluster = pg_pair[0]
    cluster.ensure_running()
    args = cluster.login_args('postgres')
    del args['login_db']
    result = module_runner(pg_ping, dict(args, databases=['postgres', 'no_such_db']))
    assert result['failed'] and 'does not exist' in result['msg'] and 'no_such_db' in result['msg']
    empty = module_runner(pg_ping, dict(args, databases=[]))
    assert empty['failed'] and 'databases is empty' in empty['msg']
    both = module_runner(pg_ping, dict(args, login_db='postgres', databases=['postgres']))
    assert both['failed'] and 'mutually exclusive' in both['msg']
    neither = module_runner(pg_ping, args)
    assert neither['failed'] and 'login_db' in neither['msg'] and 'databases' in neither['msg']
