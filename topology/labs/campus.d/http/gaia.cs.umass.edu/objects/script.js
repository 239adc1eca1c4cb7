document.title = document.title + " (10 objects)";
