"""Contact attempts and case events are about to be partitioned by month (collections_app.partitions):
the database foreign keys pointing at them go, Django keeps their on_delete."""


import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('collections_app', '0010_event_chain_parent_lock'),
    ]

    operations = [
        migrations.AlterField(
            model_name='contactattempt',
            name='corrects',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='corrections', to='collections_app.contactattempt'),
        ),
        migrations.AlterField(
            model_name='promisetopay',
            name='contact_attempt',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='promises', to='collections_app.contactattempt'),
        ),
    ]
