"""Usage rollups for the Cloud credits chart (SPEC "Performance").

The chart summed a month of the pool's entries per day and member on every view (about 70 ms
at a million entries, growing with the pool's activity). Two small tables now hold those
figures, kept with every consumption and refund and checked by `verify_ledger`: the pool's
net consumption per day, and each member's per month. The consumption function writes them in
the same statement; the ledger's covering index for the old chart query goes.
"""

import importlib


import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from portal.migration_sql import per_vendor

consume_0004 = importlib.import_module("credits.migrations.0004_consume_function")

# The function of 0004, with the rollups written next to the pool's entry (still under the
# wallet lock, so that these rows, like the wallet, have one writer at a time).
ANCHOR = "    -- R30: the low-balance alert goes out once, when the pool falls below the threshold.\n"
ROLLUPS = """    INSERT INTO credits_poolusageday (organization_id, day, consumed)
        VALUES (v_access.organization_id, (p_now AT TIME ZONE 'UTC')::date, p_amount)
        ON CONFLICT ON CONSTRAINT pool_usage_day_unique
        DO UPDATE SET consumed = credits_poolusageday.consumed + EXCLUDED.consumed;
    INSERT INTO credits_memberusagemonth (organization_id, account_id, month, consumed)
        VALUES (v_access.organization_id, v_account,
            date_trunc('month', p_now AT TIME ZONE 'UTC')::date, p_amount)
        ON CONFLICT ON CONSTRAINT member_usage_month_unique
        DO UPDATE SET consumed = credits_memberusagemonth.consumed + EXCLUDED.consumed;
"""
assert consume_0004.CREATE.count(ANCHOR) == 1
CREATE = consume_0004.CREATE.replace(ANCHOR, ROLLUPS + ANCHOR)


def backfill(apps, schema_editor):
    from credits.services import usage_rollups_rebuild

    if schema_editor.connection.vendor == "postgresql":
        # Consumptions and refunds wait until the new function and the rollups are in
        # place (this migration's transaction): none is left out of the rollups.
        schema_editor.execute("LOCK TABLE credits_ledgerentry IN SHARE MODE")

    usage_rollups_rebuild(
        ledger=apps.get_model("credits", "LedgerEntry"),
        day=apps.get_model("credits", "PoolUsageDay"),
        month=apps.get_model("credits", "MemberUsageMonth"),
    )


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0005_usage_chart_index'),
        ('organizations', '0003_account_search_trigram'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='MemberUsageMonth',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('month', models.DateField(help_text='The first day of the month.')),
                ('consumed', models.DecimalField(decimal_places=2, default=0, max_digits=16)),
            ],
        ),
        migrations.CreateModel(
            name='PoolUsageDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('consumed', models.DecimalField(decimal_places=2, default=0, max_digits=16)),
            ],
        ),
        migrations.RemoveIndex(
            model_name='ledgerentry',
            name='ledger_org_kind_time_usage',
        ),
        migrations.AddField(
            model_name='memberusagemonth',
            name='account',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='memberusagemonth',
            name='organization',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='organizations.organization'),
        ),
        migrations.AddField(
            model_name='poolusageday',
            name='organization',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='organizations.organization'),
        ),
        migrations.AddIndex(
            model_name='memberusagemonth',
            index=models.Index(models.F('organization'), models.F('month'), models.OrderBy(models.F('consumed'), descending=True), models.F('account'), name='member_usage_month_top'),
        ),
        migrations.AddConstraint(
            model_name='memberusagemonth',
            constraint=models.UniqueConstraint(fields=('organization', 'month', 'account'), name='member_usage_month_unique'),
        ),
        migrations.AddConstraint(
            model_name='memberusagemonth',
            constraint=models.CheckConstraint(condition=models.Q(('consumed__gte', 0)), name='member_usage_month_not_negative'),
        ),
        migrations.AddConstraint(
            model_name='poolusageday',
            constraint=models.UniqueConstraint(fields=('organization', 'day'), name='pool_usage_day_unique'),
        ),
        migrations.AddConstraint(
            model_name='poolusageday',
            constraint=models.CheckConstraint(condition=models.Q(('consumed__gte', 0)), name='pool_usage_day_not_negative'),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        per_vendor(
            postgresql=[CREATE],
            sqlite=[],
            postgresql_undo=[consume_0004.CREATE],
            sqlite_undo=[],
        ),
    ]
