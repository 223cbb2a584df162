"""Drop Message.config: 0004 copied each row's business number into business_number_id."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("conversations", "0004_copy_business_numbers")]

    operations = [migrations.RemoveField(model_name="message", name="config")]
