"""Message.business_number_id: the business number the message went through, as a string.

It replaces the foreign key into the channel's model (``Message.config``): 0004 copies each
row's number across, 0005 drops the key. Three migrations, so that no transaction both
updates the table and alters it (PostgreSQL refuses that while foreign-key checks are
pending).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conversations", "0002_outboundlane_message_messagestatusevent_and_more")]

    operations = [
        migrations.AddField(
            model_name="message",
            name="business_number_id",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The business number the message went through, as the channel "
                "identifies it (WhatsApp: Meta's phone number ID). Empty: not known yet.",
                max_length=64,
                verbose_name="business number ID",
            ),
            preserve_default=False,
        ),
    ]
