"""Tours, bookings and travellers."""

import customer_data.models
import django.db.models.deletion
from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('conversations', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='Tour',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200)),
                ('description', models.TextField(blank=True)),
                ('category', models.CharField(blank=True, choices=[('sightseeing', 'Sightseeing'), ('wildlife', 'Wildlife safari'), ('adventure', 'Adventure'), ('cruise', 'River cruise'), ('cultural', 'Cultural'), ('scenic_flight', 'Scenic flight')], max_length=32)),
                ('base_price', models.DecimalField(decimal_places=2, help_text='Price per adult.', max_digits=12)),
                ('child_price', models.DecimalField(blank=True, decimal_places=2, help_text='Price per child; blank means the adult price.', max_digits=12, null=True)),
                ('duration_days', models.PositiveSmallIntegerField(default=1)),
                ('location', models.CharField(blank=True, max_length=200)),
                ('is_active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['name'],
                'constraints': [models.CheckConstraint(condition=models.Q(('base_price__gte', 0)), name='tour_base_price_gte_0'), models.CheckConstraint(condition=models.Q(('child_price__isnull', True), ('child_price__gte', 0), _connector='OR'), name='tour_child_price_gte_0'), models.CheckConstraint(condition=models.Q(('duration_days__gte', 1)), name='tour_duration_gte_1')],
            },
        ),
        migrations.CreateModel(
            name='Booking',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('booking_reference', models.CharField(default=customer_data.models.generate_booking_reference, editable=False, max_length=16, unique=True)),
                ('start_date', models.DateField()),
                ('end_date', models.DateField(blank=True, null=True)),
                ('number_of_adults', models.PositiveSmallIntegerField(default=1)),
                ('number_of_children', models.PositiveSmallIntegerField(default=0)),
                ('total_amount', models.DecimalField(decimal_places=2, max_digits=12)),
                ('amount_paid', models.DecimalField(decimal_places=2, default=Decimal('0.00'), editable=False, max_digits=12)),
                ('payment_status', models.CharField(choices=[('pending', 'Pending'), ('pending_manual', 'Pending manual confirmation'), ('deposit_paid', 'Deposit paid'), ('paid', 'Paid'), ('refunded', 'Refunded'), ('cancelled', 'Cancelled')], db_index=True, default='pending', max_length=20)),
                ('email', models.EmailField(blank=True, max_length=254)),
                ('notes', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('contact', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='bookings', to='conversations.contact')),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddField(
            model_name='booking',
            name='tour',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='bookings', to='customer_data.tour'),
        ),
        migrations.CreateModel(
            name='Traveler',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200)),
                ('age', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('nationality', models.CharField(blank=True, max_length=100)),
                ('id_number', models.CharField(blank=True, max_length=64, verbose_name='ID / passport number')),
                ('traveler_type', models.CharField(choices=[('adult', 'Adult'), ('child', 'Child')], default='adult', max_length=10)),
                ('medical_dietary_requirements', models.TextField(blank=True)),
                ('booking', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='travelers', to='customer_data.booking')),
            ],
            options={
                'ordering': ['booking', 'id'],
            },
        ),
        migrations.AddConstraint(
            model_name='booking',
            constraint=models.CheckConstraint(condition=models.Q(('amount_paid__gte', 0)), name='booking_amount_paid_gte_0'),
        ),
        migrations.AddConstraint(
            model_name='booking',
            constraint=models.CheckConstraint(condition=models.Q(('total_amount__gte', 0)), name='booking_total_amount_gte_0'),
        ),
        migrations.AddConstraint(
            model_name='booking',
            constraint=models.CheckConstraint(condition=models.Q(('number_of_adults__gte', 1)), name='booking_at_least_one_adult'),
        ),
        migrations.AddConstraint(
            model_name='booking',
            constraint=models.CheckConstraint(condition=models.Q(('end_date__isnull', True), ('end_date__gte', models.F('start_date')), _connector='OR'), name='booking_dates_ordered'),
        ),
        migrations.AddConstraint(
            model_name='traveler',
            constraint=models.CheckConstraint(condition=models.Q(('age__isnull', True), ('age__lte', 120), _connector='OR'), name='traveler_age_plausible'),
        ),
    ]
