-- Calls from a cloud PBX (IN-11, Gravitel) are kept in the contact's chat: a caller with no dialog yet
-- gets a `phone` dialog, addressed by the E.164 number like the messaging channels' dialogs. Nothing
-- is sent back on it: an operator's text there is a note.
alter table dialogs drop constraint dialogs_channel_check;
alter table dialogs add constraint dialogs_channel_check
  check (channel in ('web', 'sms', 'viber', 'vk', 'ok', 'phone'));
