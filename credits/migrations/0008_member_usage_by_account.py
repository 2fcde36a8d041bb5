"""Members' usage rollup keyed (organization, account, month): the members list sums a page
of members' all-time usage from it (the same constraint, the columns reordered)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0007_consume_checks_token'),
        ('organizations', '0003_account_search_trigram'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='memberusagemonth',
            name='member_usage_month_unique',
        ),
        migrations.AddConstraint(
            model_name='memberusagemonth',
            constraint=models.UniqueConstraint(fields=('organization', 'account', 'month'), name='member_usage_month_unique'),
        ),
    ]
