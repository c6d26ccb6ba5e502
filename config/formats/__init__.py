"""One way to write a date and a time per language (settings.FORMAT_MODULE_PATH).

Templates name a format (`|date:"SHORT_DATETIME_FORMAT"`), never spell one: lists and tables use the
SHORT_ formats, letters and agreements the long ones. Only the display formats are set here; what a form
accepts (the *_INPUT_FORMATS) stays Django's for each language. Machine formats (ISO in data attributes,
CSV) are not display formats and are written out where they are used.
"""
