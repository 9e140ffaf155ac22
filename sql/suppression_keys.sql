select key from suppression
