"""Seasonal prices per tour."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customer_data', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='SeasonalTourPrice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('start_date', models.DateField()),
                ('end_date', models.DateField()),
                ('price_per_adult', models.DecimalField(decimal_places=2, max_digits=12)),
                ('price_per_child', models.DecimalField(blank=True, decimal_places=2, help_text='Blank means the seasonal adult price.', max_digits=12, null=True)),
                ('tour', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='seasonal_prices', to='customer_data.tour')),
            ],
            options={
                'ordering': ['tour', 'start_date'],
            },
        ),
        migrations.AddConstraint(
            model_name='seasonaltourprice',
            constraint=models.CheckConstraint(condition=models.Q(('end_date__gte', models.F('start_date'))), name='season_dates_ordered'),
        ),
        migrations.AddConstraint(
            model_name='seasonaltourprice',
            constraint=models.CheckConstraint(condition=models.Q(('price_per_adult__gte', 0)), name='season_adult_price_gte_0'),
        ),
        migrations.AddConstraint(
            model_name='seasonaltourprice',
            constraint=models.CheckConstraint(condition=models.Q(('price_per_child__isnull', True), ('price_per_child__gte', 0), _connector='OR'), name='season_child_price_gte_0'),
        ),
    ]
